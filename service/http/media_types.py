"""Which representation a client gets (JSON or CSV), and the CSV form of an answer.

`?format=` wins over the Accept header, so a link or a spreadsheet import can ask for CSV
without setting headers. Without either, or when the client accepts anything, it is JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from service.catalog.model import Endpoint, Field
from service.http.problems import invalid_parameter

JSON = "application/json"
CSV = "text/csv"
HTML = "text/html"
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


def prefers_html(accept: str | None) -> bool:
    """A browser's navigation: text/html ranked above JSON (a wildcard ranks both alike)."""
    return _quality(accept, HTML) > _quality(accept, JSON)


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


class CsvWriter:
    """One endpoint's CSV: a header row, then one row per answer row (an object endpoint has
    one). An echoed object is flattened to `<field>_<key>` cells, a group back to its
    columns; a list's echoes repeat on every row; null is an empty cell."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.columns = [cell for field in endpoint.fields for cell in _cells_of(field, endpoint)]
        self._echoes = [field for field in endpoint.fields if field.source.startswith("echo")]
        self._row_fields = [f for f in endpoint.fields if not f.source.startswith("echo")]

    def csv(self, body: Any) -> bytes:
        """The CSV of a JSON body this endpoint answered."""
        if self.endpoint.returns == "object":
            rows = [_flat(self.endpoint.fields, body)]
        else:
            items = body if self.endpoint.items is None else body[self.endpoint.items]
            echoes = {} if self.endpoint.items is None else _flat(self._echoes, body)
            rows = [{**echoes, **_flat(self._row_fields, item)} for item in items]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in self.columns])
        return out.getvalue().encode()


def _cells_of(field: Field, endpoint: Endpoint) -> list[str]:
    if field.source == "echo object":
        public = {argument.name: argument.public for argument in endpoint.arguments}
        return [f"{field.name}_{public[name]}" for name in field.arguments]
    if field.source == "group":
        return list(field.columns)
    return [field.name]


def _flat(fields: list[Field] | tuple[Field, ...], body: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for field in fields:
        value = body[field.name]
        if field.source == "echo object":
            flat.update({f"{field.name}_{key}": item for key, item in value.items()})
        elif field.source == "group":
            flat.update(
                {column: value[key] for column, key in zip(field.columns, field.keys, strict=True)}
            )
        else:
            flat[field.name] = value
    return flat


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return value
