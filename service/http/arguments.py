"""Request parsing and validation, driven by the catalog entry of the route.

Everything a client sends is checked here, by the type and bounds its SQL function
declares, before it reaches the data layer, and reaches SQL only as a bound parameter.
Each failure is a 400 naming the parameter (by its public name) and the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from service.catalog.model import Argument, Endpoint
from service.http.problems import invalid_parameter

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
ISO_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INTEGER_PATTERN = re.compile(r"-?[0-9]{1,18}")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# More fields than an endpoint declares is already an error; the cap keeps parsing cheap:
# this many, plus the values an array parameter may take (maxItems, else the default).
MAX_QUERY_FIELDS = 20
UNBOUNDED_ARRAY_FIELDS = 100
# Not an argument of any function: the media type of the answer (service/http/media_types.py).
FORMAT_PARAMETER = "format"
Number = TypeVar("Number", int, float)
BOOLEANS = {"true": True, "false": False}


@dataclass(slots=True)
class ParsedRequest:
    """The function's argument values (in argument order, each omitted optional one as
    its default), the `format` parameter and the page cursor, when given."""

    values: list[Any]
    media_format: str | None
    cursor: str | None


class ArgumentParser:
    """Parses one route's path and query into its function's argument values."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._path = endpoint.path_arguments
        self._query = {argument.public: argument for argument in endpoint.query_arguments}
        self._cursor = endpoint.cursor.public if endpoint.cursor else None
        # The names a query string may hold besides the arguments'.
        self._own = {FORMAT_PARAMETER, *([self._cursor] if self._cursor else [])}
        self._accepted = ", ".join(sorted([*self._query, *self._own]))
        self._position = {argument.name: n for n, argument in enumerate(endpoint.arguments)}
        self._defaults = [argument.default for argument in endpoint.arguments]
        self._ranges = [
            (self._position[low], self._position[high]) for low, high in endpoint.ranges
        ]
        self._max_fields = MAX_QUERY_FIELDS + sum(
            a.schema.get("maxItems", UNBOUNDED_ARRAY_FIELDS)
            for a in endpoint.query_arguments
            if a.array
        )
        # An array's elements are checked by the bounds of its schema's `items`.
        self._elements = {
            a.public: replace(a, array=False, schema=a.schema.get("items", {}))
            for a in endpoint.query_arguments
            if a.array
        }

    def parse(self, path: dict[str, str], query_string: str) -> ParsedRequest:
        values = list(self._defaults)
        for argument in self._path:
            raw = _percent_decoded(argument.public, path[argument.name])
            values[self._position[argument.name]] = parse_value(argument, raw)
        given = self._query_values(query_string)
        for argument in self._query.values():
            raw_values = given.get(argument.public)
            if raw_values is None:
                if argument.required:
                    raise invalid_parameter(
                        f"query parameter {argument.public!r} is required", argument.public
                    )
                continue
            if argument.array:
                value: Any = self._array(argument, raw_values)
            else:
                value = parse_value(argument, raw_values[0])
            values[self._position[argument.name]] = value
        self._check_ranges(values)
        media_format = given.get(FORMAT_PARAMETER)
        cursor = given.get(self._cursor) if self._cursor else None
        return ParsedRequest(
            values, media_format[0] if media_format else None, cursor[0] if cursor else None
        )

    def _array(self, argument: Argument, raw_values: list[str]) -> list[Any]:
        name, schema = argument.public, argument.schema
        if len(raw_values) > schema.get("maxItems", len(raw_values)):
            raise invalid_parameter(
                f"{name} is given {len(raw_values)} times; the limit is {schema['maxItems']}",
                name,
            )
        if len(raw_values) < schema.get("minItems", 0):
            raise invalid_parameter(f"{name} needs at least {schema['minItems']} values", name)
        element = self._elements[name]
        return [parse_value(element, raw) for raw in raw_values]

    def _query_values(self, query_string: str) -> dict[str, list[str]]:
        """Each parameter's raw values: declared, non-empty, repeated only for an array."""
        given: dict[str, list[str]] = {}
        for name, raw in _query_pairs(query_string, self._max_fields):
            argument = self._query.get(name)
            if argument is None and name not in self._own:
                raise invalid_parameter(
                    f"unknown query parameter {name!r}; this endpoint accepts: {self._accepted}",
                    name,
                )
            if name in given and not (argument is not None and argument.array):
                raise invalid_parameter(f"query parameter {name!r} is given more than once", name)
            if raw == "":
                raise invalid_parameter(f"query parameter {name!r} is empty", name)
            given.setdefault(name, []).append(raw)
        return given

    def _check_ranges(self, values: list[Any]) -> None:
        for low, high in self._ranges:
            if values[low] is not None and values[high] is not None and values[low] > values[high]:
                low_name = self.endpoint.arguments[low].public
                high_name = self.endpoint.arguments[high].public
                raise invalid_parameter(
                    f"{low_name} ({values[low]}) is after {high_name} ({values[high]})", low_name
                )


def _percent_decoded(name: str, raw: str) -> str:
    """Sanic hands over the raw path segment; decoding here (strictly: invalid UTF-8 is a
    400, not a silent replacement character) lets an id contain `/` as `%2F`."""
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise invalid_parameter(f"{name} is not valid UTF-8 once percent-decoded", name) from None


def _query_pairs(query_string: str, max_fields: int) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            query_string,
            keep_blank_values=True,
            errors="strict",
            max_num_fields=max_fields,
        )
    except UnicodeDecodeError:
        raise invalid_parameter(
            "the query string is not valid UTF-8 once percent-decoded", "query"
        ) from None
    except ValueError:
        raise invalid_parameter(
            f"too many query parameters (at most {max_fields})", "query"
        ) from None


def parse_value(argument: Argument, raw: str) -> Any:
    """One value of `argument` from its text, by its type, enum and schema bounds."""
    allowed = argument.enum if argument.enum is not None else argument.schema.get("enum")
    value = raw if argument.enum is not None else PARSERS[argument.type](argument, raw)
    if allowed is not None and value not in allowed:
        expected = ", ".join(map(str, allowed))
        raise invalid_parameter(
            f"{argument.public}={raw!r}; expected one of: {expected}", argument.public
        )
    return value


def _text(argument: Argument, raw: str) -> str:
    name, schema = argument.public, argument.schema
    longest = schema.get("maxLength")
    if longest is not None and len(raw) > longest:
        raise invalid_parameter(
            f"{name} is {len(raw)} characters long; the limit is {longest}", name
        )
    if len(raw) < schema.get("minLength", 0):
        raise invalid_parameter(f"{name} is shorter than {schema['minLength']} characters", name)
    if CONTROL_CHARACTER.search(raw):
        # No real id has one, and PostgreSQL text cannot hold NUL (%00) at all.
        raise invalid_parameter(f"{name} contains a control character", name)
    return raw


def _date(argument: Argument, raw: str) -> date:
    name = argument.public
    if not ISO_DATE_PATTERN.fullmatch(raw):
        raise invalid_parameter(f"{name}={raw!r} is not a date in the form YYYY-MM-DD", name)
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise invalid_parameter(f"{name}={raw!r} is not a real calendar date", name) from None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise invalid_parameter(
            f"{name}={raw!r} is outside the supported range {EARLIEST_DATE}..{LATEST_DATE}",
            name,
        )
    return value


def _integer(argument: Argument, raw: str) -> int:
    name = argument.public
    if not INTEGER_PATTERN.fullmatch(raw):
        raise invalid_parameter(f"{name}={raw!r} is not an integer", name)
    return _within_bounds(argument, int(raw), raw)


def _number(argument: Argument, raw: str) -> float:
    name = argument.public
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or raw.strip() != raw:
        raise invalid_parameter(f"{name}={raw!r} is not a number", name)
    return _within_bounds(argument, value, raw)


def _within_bounds(argument: Argument, value: Number, raw: str) -> Number:
    name, schema = argument.public, argument.schema
    if "minimum" in schema and value < schema["minimum"]:
        raise invalid_parameter(f"{name}={raw!r} is below the minimum {schema['minimum']}", name)
    if "maximum" in schema and value > schema["maximum"]:
        raise invalid_parameter(f"{name}={raw!r} is above the maximum {schema['maximum']}", name)
    return value


def _boolean(argument: Argument, raw: str) -> bool:
    if raw not in BOOLEANS:
        raise invalid_parameter(
            f"{argument.public}={raw!r}; expected true or false", argument.public
        )
    return BOOLEANS[raw]


PARSERS: dict[str, Callable[[Argument, str], Any]] = {
    "text": _text,
    "date": _date,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
}
