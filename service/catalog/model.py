"""The API catalog as the service reads it: one `Endpoint` per routed SQL function.

Built by `reviews-api catalog` from the database's own objects (service/catalog/build.py)
and read back from the checked-in file (queries/catalog.json); docs/api-catalog.md is the
reference for every field. Nothing here names a data endpoint: the request path is generic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATALOG_FORMAT = 1


class CatalogError(ValueError):
    """The catalog (or the SQL it is built from) breaks a rule of docs/api-catalog.md."""


@dataclass(frozen=True, slots=True)
class Argument:
    """An IN argument of the function: a path or query parameter of the route."""

    name: str  # in SQL
    public: str  # in the URL
    location: str  # "path" or "query"
    sql_type: str
    type: str  # text, date, integer, number, boolean (of the elements, for an array)
    array: bool
    enum: tuple[str, ...] | None
    required: bool
    default: Any  # the JSON value passed when the client gives none
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Column:
    """A result column of the function."""

    name: str
    sql_type: str
    type: str


@dataclass(frozen=True, slots=True)
class Field:
    """A field of the answer, made of an echoed argument, echoed arguments (an object), a
    result column, or a group of columns (an object keyed by what follows their prefix)."""

    name: str
    source: str  # "echo", "echo object", "column" or "group"
    arguments: tuple[str, ...]
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset pages: the opaque query parameter `public` sets `arguments` from the
    `columns` of the previous page's last row."""

    public: str
    arguments: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Missing:
    """A batch's field `field`: the values of the array `argument` that no row's `column`
    holds."""

    field: str
    argument: str
    column: str
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A routed SQL function and everything its route needs."""

    name: str
    function: str
    method: str
    path: str
    summary: str
    description: str
    returns: str  # "object" or "list"
    items: str | None
    items_description: str
    arguments: tuple[Argument, ...]
    columns: tuple[Column, ...]
    fields: tuple[Field, ...]
    ranges: tuple[tuple[str, str], ...]
    exists: str | None
    exists_name: str | None
    not_found: str
    statement: str
    inlinable: bool
    limit: str | None = None
    cursor: Cursor | None = None
    hidden: tuple[str, ...] = ()
    missing: Missing | None = None
    example: Any = None
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # as read

    @property
    def path_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.location == "path")

    @property
    def query_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.location == "query")

    @property
    def boolean_columns(self) -> frozenset[int]:
        """The positions of the boolean result columns."""
        return frozenset(n for n, c in enumerate(self.columns) if c.type == "boolean")

    @property
    def sanic_path(self) -> str:
        """The route in Sanic's syntax: `{name}` becomes `<name:str>`."""
        path = self.path
        for argument in self.path_arguments:
            path = path.replace("{" + argument.name + "}", f"<{argument.name}:str>")
        return path


@dataclass(frozen=True)
class Catalog:
    """Every endpoint, in path order."""

    endpoints: tuple[Endpoint, ...]

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Catalog:
        if document.get("format") != CATALOG_FORMAT:
            raise CatalogError(
                f"catalog format {document.get('format')!r}; this service reads {CATALOG_FORMAT}"
            )
        return cls(tuple(_endpoint(entry) for entry in document["endpoints"]))

    @classmethod
    def read(cls, path: Path) -> Catalog:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise CatalogError(f"no API catalog at {path}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise CatalogError(f"{path} is not a valid API catalog: {error!r}") from error


def _endpoint(entry: dict[str, Any]) -> Endpoint:
    return Endpoint(
        name=entry["name"],
        function=entry["function"],
        method=entry["method"],
        path=entry["path"],
        summary=entry["summary"],
        description=entry["description"],
        returns=entry["returns"],
        items=entry["items"],
        items_description=entry.get("items_description") or "",
        arguments=tuple(_argument(a) for a in entry["arguments"]),
        columns=tuple(Column(c["name"], c["sql_type"], c["type"]) for c in entry["columns"]),
        fields=tuple(_field(f) for f in entry["fields"]),
        ranges=tuple((low, high) for low, high in entry["ranges"]),
        exists=entry["exists"],
        exists_name=entry["exists_name"],
        not_found=entry["not_found"],
        statement=entry["statement"],
        inlinable=entry["inlinable"],
        limit=entry.get("limit"),
        cursor=Cursor(
            entry["cursor"]["public"],
            tuple(entry["cursor"]["arguments"]),
            tuple(entry["cursor"]["columns"]),
        )
        if entry.get("cursor")
        else None,
        hidden=tuple(entry.get("hidden", ())),
        missing=Missing(**entry["missing"]) if entry.get("missing") else None,
        example=entry.get("example"),
        document=entry,
    )


def _argument(entry: dict[str, Any]) -> Argument:
    return Argument(
        name=entry["name"],
        public=entry["public"],
        location=entry["in"],
        sql_type=entry["sql_type"],
        type=entry["type"],
        array=entry["array"],
        enum=tuple(entry["enum"]) if entry["enum"] is not None else None,
        required=entry["required"],
        default=entry["default"],
        description=entry["description"],
        schema=entry["schema"],
    )


def _field(entry: dict[str, Any]) -> Field:
    return Field(
        name=entry["name"],
        source=entry["source"],
        arguments=tuple(entry.get("arguments", ())),
        columns=tuple(entry.get("columns", ())),
        keys=tuple(entry.get("keys", ())),
        description=entry["description"],
        schema=entry["schema"],
    )
