"""Serialisation, the last step: result rows become the body the catalog declares.

The shape comes from the catalog entry's fields (docs/api-catalog.md): echoed arguments,
result columns, and groups of columns as objects, in the declared order. An object
endpoint answers its first row; a list endpoint a JSON array of rows, or an object of its
echoes with the rows under the `@items` field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
from sanic import HTTPResponse

from service.catalog.model import Endpoint, Field

Row = tuple[Any, ...]  # a result row: the function's columns, in order
Shape = Callable[[list[Any], Row], Any]


class BodyShaper:
    """Builds one endpoint's JSON body from its argument values and result rows."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._argument_at = {argument.name: n for n, argument in enumerate(endpoint.arguments)}
        self._column_at = {column.name: n for n, column in enumerate(endpoint.columns)}
        shapes = [(field, self._shape(field)) for field in endpoint.fields]
        self._fields = [(field.name, shape) for field, shape in shapes]
        self._echoes = [(field.name, shape) for field, shape in shapes if _is_echo(field)]
        self._row_fields = [(field.name, shape) for field, shape in shapes if not _is_echo(field)]

    def body(self, values: list[Any], rows: list[Row], extra: dict[str, Any] | None = None) -> Any:
        """The answer: an object from the first row, or the rows as a list (under `@items`
        with the echoes and `extra`: a page's `next`, a batch's missing values)."""
        if self.endpoint.returns == "object":
            return {name: shape(values, rows[0]) for name, shape in self._fields}
        items = [{name: shape(values, row) for name, shape in self._row_fields} for row in rows]
        if self.endpoint.items is None:
            return items
        body = {name: shape(values, ()) for name, shape in self._echoes}
        body[self.endpoint.items] = items
        if extra:
            body.update(extra)
        return body

    def _shape(self, field: Field) -> Shape:
        if field.source == "echo":
            return _argument(self._argument_at[field.arguments[0]])
        if field.source == "echo object":
            arguments = self.endpoint.arguments
            members = [
                (arguments[self._argument_at[name]].public, self._argument_at[name])
                for name in field.arguments
            ]
            return _arguments(members)
        if field.source == "column":
            return _column(self._column_at[field.columns[0]])
        positions = [self._column_at[column] for column in field.columns]
        return _group(list(zip(field.keys, positions, strict=True)))


def _is_echo(field: Field) -> bool:
    return field.source in ("echo", "echo object")


def _argument(position: int) -> Shape:
    return lambda values, row: json_value(values[position])


def _arguments(members: list[tuple[str, int]]) -> Shape:
    return lambda values, row: {public: json_value(values[n]) for public, n in members}


def _column(position: int) -> Shape:
    return lambda values, row: json_value(row[position])


def _group(members: list[tuple[str, int]]) -> Shape:
    return lambda values, row: {key: row[n] for key, n in members}


def json_value(value: Any) -> Any:
    """PostgreSQL hands back dates, SQLite ISO text: the API always speaks ISO text."""
    return value.isoformat() if isinstance(value, date) else value


def json_response(body: Any, status: int = 200) -> HTTPResponse:
    """orjson: the shortest float repr (the exact double), and fast."""
    return HTTPResponse(orjson.dumps(body), status=status, content_type="application/json")
