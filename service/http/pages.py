"""Keyset pages and batches, for catalog entries that declare them (`@limit`, `@cursor`,
`@missing`; docs/api-catalog.md).

A cursor is unsigned base64url JSON: the data version it was made under (`v`), a digest of
the request's other arguments (`q`) and the last row's values of the cursor columns (`k`).
Unsigned on purpose: it holds nothing a client could not ask for directly, and every value
is type-checked and reaches SQL as a bound parameter. A cursor from before a load would
skip or repeat rows of the new data: a 409, "start again from the first page". A cursor
from a newer load than this worker serves (another instance, whose standby replayed it
first, made it) is a 503 with Retry-After: 1: the load is on its way here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from service.catalog.model import Argument, Endpoint
from service.http.data_version import newer
from service.http.problems import Problem, invalid_parameter, replica_behind, stale_cursor

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "text": (str,),
    "boolean": (bool,),
    "date": (str,),
}


class Pages:
    """One paged endpoint's cursors and next links."""

    def __init__(self, endpoint: Endpoint) -> None:
        assert endpoint.cursor is not None and endpoint.limit is not None
        self.endpoint = endpoint
        self.public = endpoint.cursor.public
        position = {argument.name: n for n, argument in enumerate(endpoint.arguments)}
        self.limit_at = position[endpoint.limit]
        self._cursor_at = [position[name] for name in endpoint.cursor.arguments]
        column_at = {column.name: n for n, column in enumerate(endpoint.columns)}
        self._key_at = [column_at[name] for name in endpoint.cursor.columns]
        skipped = {*self._cursor_at, self.limit_at}
        self._digested = [n for n in range(len(endpoint.arguments)) if n not in skipped]

    def digest(self, values: list[Any]) -> str:
        """What a cursor must be used with: the request's arguments but the page's own."""
        chosen = [_text(values[n]) for n in self._digested]
        return hashlib.blake2b(orjson.dumps(chosen), digest_size=8).hexdigest()

    def cursor(self, version: str, values: list[Any], row: tuple[Any, ...]) -> str:
        key = [_text(row[n]) if isinstance(row[n], date) else row[n] for n in self._key_at]
        document = {"v": version, "q": self.digest(values), "k": key}
        return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode()

    def apply(self, text: str, values: list[Any], version: str) -> None:
        """Set the cursor's arguments in `values`; 400 for a cursor that does not decode or
        fit this request, 409 for one made under an older data version, 503 under a newer."""
        document = self._decoded(text)
        if document.get("q") != self.digest(values):
            raise invalid_parameter(
                f"{self.public} is a cursor of another request (other parameters: sort, "
                "order, range...); keep the parameters of the page it came from",
                self.public,
            )
        made_under = document.get("v")
        if made_under != version:
            if isinstance(made_under, str) and newer(made_under, version):
                raise replica_behind("this cursor was made")
            raise stale_cursor()
        key = document.get("k")
        if not isinstance(key, list) or len(key) != len(self._cursor_at):
            raise self._invalid()
        for position, value in zip(self._cursor_at, key, strict=True):
            values[position] = self._typed(self.endpoint.arguments[position], value)

    def next_link(self, values: list[Any], cursor: str, media_format: str | None) -> str:
        """The next page's relative URL: the same request in a canonical form."""
        path = self.endpoint.path
        pairs: list[tuple[str, str]] = []
        for argument, value in zip(self.endpoint.arguments, values, strict=True):
            if argument.location == "path":
                path = path.replace("{" + argument.name + "}", quote(value, safe=""))
            elif argument.location == "query" and value != argument.default:
                pairs += [(argument.public, _text(v)) for v in _listed(value)]
        if media_format is not None:
            pairs.append(("format", media_format))
        pairs.append((self.public, cursor))
        return f"{path}?{urlencode(pairs, quote_via=quote)}"

    def _decoded(self, text: str) -> dict[str, Any]:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            document = orjson.loads(raw)
        except (ValueError, binascii.Error, orjson.JSONDecodeError):
            raise self._invalid() from None
        if not isinstance(document, dict):
            raise self._invalid()
        return document

    def _typed(self, argument: Argument, value: Any) -> Any:
        if value is None or isinstance(value, bool) != (argument.type == "boolean"):
            raise self._invalid()
        if not isinstance(value, JSON_TYPES[argument.type]):
            raise self._invalid()
        if argument.type == "date":
            try:
                return date.fromisoformat(str(value))
            except ValueError:
                raise self._invalid() from None
        return (
            float(value) if isinstance(value, int | float) and argument.type == "number" else value
        )

    def _invalid(self) -> Problem:
        return invalid_parameter(
            f"{self.public} is not a cursor this service made (take it from a page's next link)",
            self.public,
        )


def missing(endpoint: Endpoint, values: list[Any], rows: list[tuple[Any, ...]]) -> list[Any]:
    """A batch's asked-for values that no row answers, in request order, once each."""
    assert endpoint.missing is not None
    argument_at = [a.name for a in endpoint.arguments].index(endpoint.missing.argument)
    column_at = [c.name for c in endpoint.columns].index(endpoint.missing.column)
    answered = {row[column_at] for row in rows}
    return list(dict.fromkeys(v for v in values[argument_at] if v not in answered))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """A value as a query parameter spells it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
