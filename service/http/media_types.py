"""Which representation a client gets (JSON or CSV), and the CSV form of a summary.

`?format=` wins over the Accept header, so a link or a spreadsheet import can ask for CSV
without setting headers. Without either, or when the client accepts anything, it is JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from service.catalog.endpoints import Endpoint
from service.http.arguments import Period
from service.http.problems import invalid_parameter

JSON = "application/json"
CSV = "text/csv"
FORMATS = {"json": JSON, "csv": CSV}


def choose_media_type(format_argument: str | None, accept: str | None) -> str:
    """The media type of the response: the `format` parameter, else the Accept header."""
    if format_argument is not None:
        if format_argument not in FORMATS:
            raise invalid_parameter(
                f"format={format_argument!r}; expected one of: {', '.join(FORMATS)}", "format"
            )
        return FORMATS[format_argument]
    return CSV if _quality(accept, CSV) > _quality(accept, JSON) else JSON


def _quality(accept: str | None, media_type: str) -> float:
    """The q-value `accept` gives `media_type` (most specific range wins), 0 if none."""
    if not accept:
        return 1.0 if media_type == JSON else 0.0
    kind = media_type.split("/")[0]
    best_specificity, best_q = -1, 0.0
    for media_range in accept.split(","):
        name, *params = (part.strip() for part in media_range.split(";"))
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(name.lower(), -1)
        if specificity > best_specificity:
            best_specificity, best_q = specificity, _q_value(params)
    # A wildcard alone does not make CSV preferable: JSON is the default.
    if media_type == CSV and best_specificity < 2:
        return 0.0
    return best_q


def _q_value(params: list[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def csv_columns(endpoint: Endpoint) -> list[str]:
    """The catalog's fields, with `period` and `rating_distribution` flattened."""
    columns: list[str] = []
    for field in endpoint.response_fields:
        if field.name == "period":
            columns += ["period_from", "period_to"]
        elif field.name == "rating_distribution":
            columns += [f"rating_{stars}" for stars in range(1, 6)]
        else:
            columns.append(field.name)
    return columns


def csv_body(endpoint: Endpoint, body: dict[str, Any], period: Period) -> bytes:
    """One header row and one data row; null is an empty cell."""
    flat = {
        **body,
        "period_from": period.as_json()["from"],
        "period_to": period.as_json()["to"],
        **{f"rating_{stars}": count for stars, count in body["rating_distribution"].items()},
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = csv_columns(endpoint)
    writer.writerow(columns)
    writer.writerow(["" if flat[column] is None else flat[column] for column in columns])
    return out.getvalue().encode()
