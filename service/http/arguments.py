"""Request parsing and validation, driven by the catalog.

Everything a client sends is checked here before it reaches the data layer, and reaches
SQL only as a bound parameter. Each failure is a 400 naming the parameter and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, unquote

from service.catalog.endpoints import MAX_ID_LENGTH, Endpoint
from service.http.problems import invalid_parameter

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
ISO_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# More fields than any endpoint declares is already an error; the cap keeps parsing cheap.
MAX_QUERY_FIELDS = 20


@dataclass(frozen=True)
class Period:
    """An inclusive range of UTC review days; either end may be open."""

    date_from: date | None = None
    date_to: date | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


def parse_entity_id(endpoint: Endpoint, raw: str) -> str:
    """The percent-decoded path id, 1..64 characters.

    Sanic hands over the raw path segment; decoding here (strictly: invalid UTF-8 is a 400,
    not a silent replacement character) lets an id contain `/` as `%2F`.
    """
    name = endpoint.id_parameter
    try:
        entity_id = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise invalid_parameter(f"{name} is not valid UTF-8 once percent-decoded", name) from None
    if len(entity_id) > MAX_ID_LENGTH:
        raise invalid_parameter(
            f"{name} is {len(entity_id)} characters long; the limit is {MAX_ID_LENGTH}", name
        )
    if CONTROL_CHARACTER.search(entity_id):
        # No real id has one, and PostgreSQL text cannot hold NUL (%00) at all.
        raise invalid_parameter(f"{name} contains a control character", name)
    return entity_id


def parse_query_arguments(endpoint: Endpoint, query_string: str) -> dict[str, str]:
    """Each declared parameter at most once, non-empty; anything else is a 400."""
    try:
        pairs = parse_qsl(
            query_string,
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except UnicodeDecodeError:
        raise invalid_parameter(
            "the query string is not valid UTF-8 once percent-decoded", "query"
        ) from None
    except ValueError:
        raise invalid_parameter(
            f"too many query parameters (at most {MAX_QUERY_FIELDS})", "query"
        ) from None
    declared = {parameter.name for parameter in endpoint.query_parameters}
    arguments: dict[str, str] = {}
    for name, value in pairs:
        if name not in declared:
            accepted = ", ".join(sorted(declared))
            raise invalid_parameter(
                f"unknown query parameter {name!r}; this endpoint accepts: {accepted}", name
            )
        if name in arguments:
            raise invalid_parameter(f"query parameter {name!r} is given more than once", name)
        if value == "":
            raise invalid_parameter(f"query parameter {name!r} is empty", name)
        arguments[name] = value
    return arguments


def parse_period(arguments: dict[str, str]) -> Period:
    """`from` and `to` as dates within 1900-01-01..2999-12-31, `from` not after `to`."""
    period = Period(
        date_from=_parse_date("from", arguments.get("from")),
        date_to=_parse_date("to", arguments.get("to")),
    )
    if period.date_from and period.date_to and period.date_from > period.date_to:
        raise invalid_parameter(f"from ({period.date_from}) is after to ({period.date_to})", "from")
    return period


def _parse_date(name: str, raw: str | None) -> date | None:
    if raw is None:
        return None
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
