"""The API catalog, built from what pg_catalog says of schema review_api.

`build_catalog` turns the rows of `api_functions` (queries/catalog/introspect.sql) into the
catalog file's dictionary (docs/api-catalog.md, "The catalog file"), refusing with a
CatalogError what cannot make an API and warning about what would be slow.
`signature_differences` is the service's start-up check that the catalogued functions are
still there, unchanged; `differences` is what `reviews-api catalog --check` prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.catalog.annotations import Annotation, ParsedComment, parse_comment
from service.catalog.defaults import NotConstant, default_value
from service.catalog.model import CatalogError

FORMAT = 1

# What the API serves, by format_type of the type (of an array's element).
API_TYPES = {
    "text": "text",
    "character varying": "text",
    "date": "date",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "number",
    "double precision": "number",
    "numeric": "number",
    "boolean": "boolean",
}
BASE_SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
}
# Query parameters the service answers itself: no argument may take their name.
RESERVED_PARAMETERS = frozenset({"format"})
# The statement's own columns (service/catalog: "?found", "?row") start with "?".
RESERVED_COLUMN_PREFIX = "?"
PATH_PARAMETER = re.compile(r"\{([^{}]*)\}")

# (routed function, existence function or None) -> the statement the service prepares;
# in SQL (introspect.sql, endpoint_statement), asked of the database being read.
StatementFor = Callable[[str, str | None], str]
Row = Mapping[str, Any]


@dataclass(frozen=True)
class SqlValue:
    """An argument or a result column, as pg_catalog describes it."""

    name: str | None
    mode: str  # i IN, o OUT, b INOUT, v VARIADIC, t TABLE
    sql_type: str
    element_type: str
    element_kind: str  # pg_type.typtype of the element: b base, e enum, d domain, ...
    array: bool
    enum: tuple[str, ...] | None
    default: str | None  # the DEFAULT's expression (arguments only), None without one

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SqlValue:
        return cls(
            name=value["name"],
            mode=value["mode"],
            sql_type=value["sql_type"],
            element_type=value["element_type"],
            element_kind=value["element_kind"],
            array=bool(value["array"]),
            enum=tuple(value["enum"]) if value["enum"] is not None else None,
            default=value.get("default"),
        )

    @property
    def api_type(self) -> str | None:
        """text, date, integer, number or boolean (enums are text); None if not served."""
        if self.element_kind == "e":
            return "text"
        if self.element_kind != "b":
            return None
        return API_TYPES.get(self.element_type)


@dataclass(frozen=True)
class Function:
    """One row of api_functions."""

    signature: str
    name: str
    comment: str | None
    kind: str
    language: str
    volatility: str
    strict: bool
    security_definer: bool
    config: tuple[str, ...] | None
    returns_set: bool
    result_type: str
    arguments: tuple[SqlValue, ...]
    columns: tuple[SqlValue, ...]

    @classmethod
    def from_row(cls, row: Row) -> Function:
        return cls(
            signature=row["signature"],
            name=row["name"],
            comment=row["comment"],
            kind=row["kind"],
            language=row["language"],
            volatility=row["volatility"],
            strict=row["strict"],
            security_definer=row["security_definer"],
            config=tuple(row["config"]) if row["config"] is not None else None,
            returns_set=row["returns_set"],
            result_type=row["result_type"],
            arguments=tuple(SqlValue.from_json(v) for v in json.loads(row["arguments"])),
            columns=tuple(SqlValue.from_json(v) for v in json.loads(row["columns"])),
        )

    def not_inlinable(self) -> list[str]:
        """Why the planner cannot inline a call of this function in FROM (empty: it can,
        provided its body is a single SELECT, which pg_catalog does not say)."""
        reasons = []
        if self.language != "sql":
            reasons.append(f"LANGUAGE {self.language}, not sql")
        if self.strict:
            reasons.append("STRICT")
        if self.volatility == "v":
            reasons.append("VOLATILE")
        if self.security_definer:
            reasons.append("SECURITY DEFINER")
        if self.config:
            reasons.append(f"a SET clause ({', '.join(self.config)})")
        if not self.returns_set:
            reasons.append("not a set-returning function (write RETURNS TABLE or SETOF)")
        return reasons


def read_functions(rows: Iterable[Row]) -> list[Function]:
    return [Function.from_row(row) for row in rows]


def build_catalog(
    rows: Iterable[Row], statement_for: StatementFor
) -> tuple[dict[str, Any], list[str]]:
    """The catalog of the routed functions among `rows` (api_functions), and warnings."""
    functions = read_functions(rows)
    warnings: list[str] = []
    endpoints = []
    routes: dict[str, str] = {}
    for function in functions:
        parsed = parse_comment(function.signature, function.comment)
        routes_of = parsed.of("route")
        if not routes_of:
            if parsed.annotations:
                warnings.append(
                    f"{function.signature}: has annotations but no @route: not an endpoint"
                )
            continue
        endpoint = _Endpoint(function, parsed, functions, warnings).build(statement_for)
        # /a/{x} and /a/{y} are one route to a router: compare without parameter names.
        route = f"{endpoint['method']} {PATH_PARAMETER.sub('{}', endpoint['path'])}"
        if route in routes:
            raise CatalogError(
                f"{function.signature} and {routes[route]} both declare the route "
                f"{endpoint['method']} {endpoint['path']}: one function per route"
            )
        routes[route] = function.signature
        endpoints.append(endpoint)
    endpoints.sort(key=lambda endpoint: (endpoint["path"], endpoint["method"]))
    return {"format": FORMAT, "endpoints": endpoints}, warnings


def catalog_json(catalog: Mapping[str, Any]) -> str:
    """The catalog file's text: keys in the catalog's own order, indented, one final
    newline, so that a change of the API is a readable diff."""
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


class _Endpoint:
    """One routed function becoming one catalog entry."""

    def __init__(
        self,
        function: Function,
        parsed: ParsedComment,
        functions: list[Function],
        warnings: list[str],
    ) -> None:
        self.function = function
        self.parsed = parsed
        self.functions = functions
        self.warnings = warnings
        self.signature = function.signature

    def fail(self, problem: str, annotation: Annotation | None = None) -> CatalogError:
        where = annotation.where(self.signature) if annotation else self.signature
        return CatalogError(f"{where}: {problem}")

    def single(self, keyword: str) -> Annotation | None:
        found = self.parsed.of(keyword)
        if len(found) > 1:
            raise self.fail(f"@{keyword} given {len(found)} times", found[1])
        return found[0] if found else None

    def build(self, statement_for: StatementFor) -> dict[str, Any]:
        function = self.function
        route = self.single("route")
        assert route is not None
        method, path = route.names
        if function.kind != "f":
            kinds = {"p": "a procedure", "a": "an aggregate", "w": "a window function"}
            raise self.fail(f"{kinds.get(function.kind, function.kind)} cannot be an endpoint")
        overloads = [f.signature for f in self.functions if f.name == function.name]
        if len(overloads) > 1:
            raise self.fail(
                f"overloaded ({', '.join(overloads)}): a routed function must be the only "
                "one of its name (its name is also the SQLite query's)"
            )
        if not self.parsed.summary:
            raise self.fail("the COMMENT's first line must be the endpoint's summary")
        returns = self.single("returns")
        kind = returns.names[0] if returns else "list"

        self.check_arguments()
        self.check_columns()
        path_arguments = self.path_arguments(route, path)
        hidden = self.hidden()
        cursor = self.cursor(kind, path_arguments)
        arguments = self.arguments(path_arguments, cursor)
        fields = self.fields(arguments, hidden)
        items, items_description = self.items(kind, fields)
        limit = self.limit(kind, cursor)
        if cursor is not None and items is None:
            items = "items"  # a page is {"items": [...], "next": ...}
        missing = self.missing(kind, items, hidden)
        ranges = self.ranges()
        exists = self.existence_function(path_arguments)
        not_found = self.not_found(exists, path_arguments)

        reasons = function.not_inlinable()
        if reasons:
            self.warnings.append(
                f"{self.signature}: the planner cannot inline it ({'; '.join(reasons)}), "
                "so every request runs it as a function scan"
            )
        if exists is not None and (exists_reasons := exists.not_inlinable()):
            self.warnings.append(
                f"{exists.signature}, the existence function of {self.signature}: the "
                f"planner cannot inline it ({'; '.join(exists_reasons)})"
            )
        return {
            "name": function.name,
            "function": function.signature,
            "method": method,
            "path": path,
            "summary": self.parsed.summary,
            "description": self.parsed.description,
            "returns": kind,
            "items": items,
            "items_description": items_description,
            "arguments": arguments,
            "columns": [
                {"name": c.name, "sql_type": c.sql_type, "type": c.api_type}
                for c in function.columns
            ],
            "fields": fields,
            "ranges": ranges,
            "exists": exists.signature if exists else None,
            "exists_name": exists.name if exists else None,
            "not_found": not_found,
            "statement": statement_for(function.signature, exists.signature if exists else None),
            "inlinable": not reasons and not (exists and exists.not_inlinable()),
            "limit": limit,
            "cursor": cursor,
            "hidden": sorted(hidden, key=[str(c.name) for c in function.columns].index),
            "missing": missing,
            "example": self.example(),
        }

    # --- pages and batches --------------------------------------------------------------

    def column_named(self, name: str, annotation: Annotation) -> str:
        names = [str(c.name) for c in self.function.columns]
        if name not in names:
            raise self.fail(f"{name} is not a result column ({', '.join(names)})", annotation)
        return name

    def hidden(self) -> set[str]:
        hidden: set[str] = set()
        for annotation in self.parsed.of("hidden"):
            hidden |= {self.column_named(name, annotation) for name in annotation.names}
        if len(hidden) == len(self.function.columns):
            raise self.fail("@hidden hides every result column")
        return hidden

    def cursor(self, kind: str, path_arguments: list[str]) -> dict[str, Any] | None:
        annotation = self.single("cursor")
        if annotation is None:
            return None
        if kind != "list":
            raise self.fail("@cursor goes with @returns list", annotation)
        public, *pairs = annotation.names
        arguments, columns = pairs[0::2], pairs[1::2]
        for name in arguments:
            argument = self.argument(name, annotation)
            if name in path_arguments or argument.default is None or argument.array:
                raise self.fail(
                    f"@cursor sets {name}: it must be an optional (DEFAULT NULL), non-array "
                    "argument outside the path",
                    annotation,
                )
        for column in columns:
            self.column_named(column, annotation)
        if len(set(arguments)) != len(arguments):
            raise self.fail("@cursor names an argument twice", annotation)
        return {"public": public, "arguments": arguments, "columns": columns}

    def limit(self, kind: str, cursor: dict[str, Any] | None) -> str | None:
        annotation = self.single("limit")
        if annotation is None:
            if cursor is not None:
                raise self.fail("@cursor needs @limit (the page size)")
            return None
        if cursor is None:
            raise self.fail("@limit goes with @cursor (keyset pages)", annotation)
        argument = self.argument(annotation.names[0], annotation)
        if argument.api_type != "integer" or argument.array or argument.default is None:
            raise self.fail("@limit names an optional integer argument", annotation)
        return str(argument.name)

    def missing(self, kind: str, items: str | None, hidden: set[str]) -> dict[str, Any] | None:
        annotation = self.single("missing")
        if annotation is None:
            return None
        field_name, argument_name, column = annotation.names
        argument = self.argument(argument_name, annotation)
        if not argument.array:
            raise self.fail(f"@missing reads an array argument; {argument_name} is not", annotation)
        if self.column_named(column, annotation) in hidden or items is None:
            raise self.fail("@missing needs @items and a visible key column", annotation)
        if field_name == items:
            raise self.fail(f"@missing {field_name}: the @items field has that name", annotation)
        return {
            "field": field_name,
            "argument": argument_name,
            "column": column,
            "description": self.described(field_name),
        }

    def example(self) -> Any:
        """The `@example` answer (the OpenAPI document's), or None."""
        annotation = self.single("example")
        return annotation.example if annotation else None

    # --- what the signature says --------------------------------------------------------

    def check_arguments(self) -> None:
        for position, argument in enumerate(self.function.arguments, start=1):
            if not argument.name:
                raise self.fail(
                    f"argument {position} has no name: the service passes arguments by name"
                )
            if argument.mode == "v":
                raise self.fail(
                    f"argument {argument.name} is VARIADIC, which the API does not serve"
                )
            if argument.api_type is None:
                raise self.fail(
                    f"argument {argument.name} is of type {argument.sql_type}, which the API "
                    "does not serve (docs/api-catalog.md, Types)"
                )
            if argument.default is not None:
                try:
                    self.default(argument)
                except NotConstant:
                    raise self.fail(
                        f"argument {argument.name} has a DEFAULT that is not a constant "
                        f"({argument.default}): the service passes every argument, so a "
                        "routed function's defaults must be NULL or a literal"
                    ) from None

    def check_columns(self) -> None:
        if not self.function.columns:
            raise self.fail(
                f"returns {self.function.result_type}, not named columns: declare "
                "RETURNS TABLE (...)"
            )
        for position, column in enumerate(self.function.columns, start=1):
            name = column.name or ""
            if not name:
                raise self.fail(f"result column {position} has no name")
            if name.startswith(RESERVED_COLUMN_PREFIX):
                raise self.fail(f"result column {name}: names starting with ? are reserved")
            if column.api_type is None or column.array:
                raise self.fail(
                    f"result column {name} is of type {column.sql_type}, which the API does "
                    "not serve (docs/api-catalog.md, Types)"
                )

    def default(self, argument: SqlValue) -> Any:
        assert argument.default is not None and argument.api_type is not None
        return default_value(
            argument.default,
            argument.api_type,
            array=argument.array,
            enum=list(argument.enum) if argument.enum is not None else None,
        )

    def argument(self, name: str, annotation: Annotation) -> SqlValue:
        for argument in self.function.arguments:
            if argument.name == name:
                return argument
        known = ", ".join(str(a.name) for a in self.function.arguments) or "none"
        raise self.fail(
            f"@{annotation.keyword} names {name}, not an argument of the function ({known})",
            annotation,
        )

    def path_arguments(self, route: Annotation, path: str) -> list[str]:
        names = PATH_PARAMETER.findall(path)
        if path.count("{") != len(names) or path.count("}") != len(names):
            raise self.fail("unbalanced braces in the path", route)
        for name in names:
            argument = self.argument(name, route)
            if argument.array:
                raise self.fail(f"path parameter {name} is an array", route)
            if names.count(name) > 1:
                raise self.fail(f"path parameter {name} appears twice", route)
        return names

    # --- parameters ---------------------------------------------------------------------

    def arguments(
        self, path_arguments: list[str], cursor: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        set_by_cursor = set(cursor["arguments"]) if cursor else set()
        public = {str(a.name): str(a.name) for a in self.function.arguments}
        for annotation in self.parsed.of("param"):
            name, public_name = annotation.names
            self.argument(name, annotation)
            if name in path_arguments:
                raise self.fail(
                    f"{name} is a path parameter: the route names it, not @param", annotation
                )
            if public[name] != name:
                raise self.fail(f"@param for {name} given twice", annotation)
            public[name] = public_name
        seen: dict[str, str] = {cursor["public"]: "@cursor"} if cursor else {}
        for name, public_name in public.items():
            if name in set_by_cursor:
                continue
            if public_name in RESERVED_PARAMETERS:
                raise self.fail(
                    f"argument {name}: the query parameter {public_name} is the service's own"
                    " (rename it with @param)"
                )
            if public_name in seen:
                raise self.fail(
                    f"arguments {seen[public_name]} and {name} have the same public name "
                    f"{public_name}"
                )
            seen[public_name] = name
        described: dict[str, Annotation] = {}
        for annotation in self.parsed.of("argument"):
            name = annotation.names[0]
            self.argument(name, annotation)
            if name in described:
                raise self.fail(f"@argument for {name} given twice", annotation)
            described[name] = annotation

        entries = []
        for argument in self.function.arguments:
            name = str(argument.name)
            in_path = name in path_arguments
            note = described.get(name)
            entries.append(
                {
                    "name": name,
                    "public": public[name],
                    "in": "path" if in_path else "cursor" if name in set_by_cursor else "query",
                    "sql_type": argument.sql_type,
                    "type": argument.api_type,
                    "array": argument.array,
                    "enum": list(argument.enum) if argument.enum is not None else None,
                    "required": in_path or argument.default is None,
                    "default": self.default(argument) if argument.default is not None else None,
                    "description": note.text if note else "",
                    "schema": {**base_schema(argument), **(note.schema if note else {})},
                }
            )
        return entries

    # --- the answer ---------------------------------------------------------------------

    def fields(self, arguments: list[dict[str, Any]], hidden: set[str]) -> list[dict[str, Any]]:
        by_argument = {entry["name"]: entry for entry in arguments}
        fields: list[dict[str, Any]] = []
        for annotation in self.parsed.of("echo"):
            for name in annotation.names:
                self.argument(name, annotation)
            if annotation.object_field is None:
                entry = by_argument[annotation.names[0]]
                fields.append(
                    {
                        "name": entry["public"],
                        "source": "echo",
                        "arguments": [entry["name"]],
                        "description": "",
                        "schema": echo_schema(entry),
                    }
                )
            else:
                entries = [by_argument[name] for name in annotation.names]
                fields.append(
                    {
                        "name": annotation.object_field,
                        "source": "echo object",
                        "arguments": [entry["name"] for entry in entries],
                        "description": "",
                        "schema": {
                            "type": "object",
                            "properties": {e["public"]: echo_schema(e) for e in entries},
                            "required": [e["public"] for e in entries],
                        },
                    }
                )

        columns = [c for c in self.function.columns if str(c.name) not in hidden]
        group_of: dict[str, dict[str, Any]] = {}
        for annotation in self.parsed.of("group"):
            field_name, prefix = annotation.names
            members = [str(c.name) for c in columns if str(c.name).startswith(prefix)]
            if not members:
                raise self.fail(f"no result column starts with {prefix}", annotation)
            for member in members:
                if member == prefix:
                    raise self.fail(f"column {member} would have an empty key", annotation)
                if member in group_of:
                    raise self.fail(f"column {member} is in two groups", annotation)
            group: dict[str, Any] = {
                "name": field_name,
                "source": "group",
                "columns": members,
                "keys": [member[len(prefix) :] for member in members],
                "description": "",
                "schema": {},
            }
            for member in members:
                group_of[member] = group
        for column in columns:
            name = str(column.name)
            owner = group_of.get(name)
            if owner is None:
                fields.append(
                    {
                        "name": name,
                        "source": "column",
                        "columns": [name],
                        "description": "",
                        "schema": base_schema(column),
                    }
                )
            elif owner["columns"][0] == name:
                fields.append(owner)

        by_name: dict[str, dict[str, Any]] = {}
        for field in fields:
            if field["name"] in by_name:
                raise self.fail(f"two fields of the answer are named {field['name']}")
            by_name[field["name"]] = field
        self.describe_fields(by_name, group_of)
        return self.ordered(fields, by_name)

    def describe_fields(
        self, by_name: dict[str, dict[str, Any]], group_of: dict[str, dict[str, Any]]
    ) -> None:
        """@column: a field's description and schema, or a grouped column's schema."""
        member_schemas: dict[str, dict[str, Any]] = {}
        described: set[str] = set()
        for annotation in self.parsed.of("column"):
            name = annotation.names[0]
            if name in described:
                raise self.fail(f"@column for {name} given twice", annotation)
            described.add(name)
            if name in by_name:
                field = by_name[name]
                field["description"] = annotation.text
                field["schema"] = {**field["schema"], **annotation.schema}
            elif name in group_of:
                column = next(c for c in self.function.columns if c.name == name)
                member_schemas[name] = {
                    **base_schema(column),
                    **annotation.schema,
                    **({"description": annotation.text} if annotation.text else {}),
                }
            elif name in self.list_fields():
                if annotation.schema:
                    raise self.fail(f"the {name} field takes a description, no JSON", annotation)
            else:
                known = ", ".join([*by_name, *group_of])
                raise self.fail(f"@column names {name}, not a field ({known})", annotation)
        for field in by_name.values():
            if field["source"] != "group":
                continue
            extra = field["schema"]
            members = {
                key: member_schemas.get(column)
                or base_schema(next(c for c in self.function.columns if c.name == column))
                for column, key in zip(field["columns"], field["keys"], strict=True)
            }
            field["schema"] = {
                "type": "object",
                "properties": members,
                "required": list(field["keys"]),
                **extra,
            }

    def list_fields(self) -> set[str]:
        """The fields a list's answer has besides its echoes: @items, @missing's."""
        names = {a.names[0] for a in (self.single("items"), self.single("missing")) if a}
        return names

    def described(self, name: str) -> str:
        """The `@column` text of a field the builder makes itself (@items, @missing)."""
        return next((a.text for a in self.parsed.of("column") if a.names[0] == name), "")

    def ordered(
        self, fields: list[dict[str, Any]], by_name: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        order = self.single("order")
        if order is None:
            return fields
        for name in order.names:
            if name not in by_name:
                raise self.fail(f"@order names {name}, not a field ({', '.join(by_name)})", order)
            if order.names.count(name) > 1:
                raise self.fail(f"@order names {name} twice", order)
        first = [by_name[name] for name in order.names]
        return first + [field for field in fields if field["name"] not in order.names]

    def items(self, kind: str, fields: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        items = self.single("items")
        if items is None:
            return None, None
        if kind != "list":
            raise self.fail("@items goes with @returns list", items)
        name = items.names[0]
        if any(field["name"] == name for field in fields):
            raise self.fail(f"@items {name}: a field of that name exists", items)
        described = [a for a in self.parsed.of("column") if a.names[0] == name]
        return name, described[0].text if described else ""

    def ranges(self) -> list[list[str]]:
        ranges = []
        for annotation in self.parsed.of("range"):
            first, second = (self.argument(name, annotation) for name in annotation.names)
            if first.name == second.name:
                raise self.fail("@range needs two different arguments", annotation)
            if first.sql_type != second.sql_type or first.array or first.enum is not None:
                raise self.fail(
                    "@range compares two arguments of one type (not an array, not an enum)",
                    annotation,
                )
            ranges.append([str(first.name), str(second.name)])
        return ranges

    # --- not found ----------------------------------------------------------------------

    def existence_function(self, path_arguments: list[str]) -> Function | None:
        """review_api.<entity>_exists(<entity>_id <type>) RETURNS TABLE (found boolean),
        for a route whose first path parameter is <entity>_id."""
        if not path_arguments or not path_arguments[0].endswith("_id"):
            return None
        id_name = path_arguments[0]
        id_argument = next(a for a in self.function.arguments if a.name == id_name)
        wanted = f"{id_name.removesuffix('_id')}_exists"
        candidates = [f for f in self.functions if f.name == wanted]
        for candidate in candidates:
            if (
                candidate.kind == "f"
                and [(a.name, a.sql_type) for a in candidate.arguments]
                == [(id_name, id_argument.sql_type)]
                and [(c.name, c.sql_type) for c in candidate.columns] == [("found", "boolean")]
            ):
                return candidate
        if candidates:
            self.warnings.append(
                f"{self.signature}: {', '.join(c.signature for c in candidates)} is not its "
                f"existence function, which takes {id_name} {id_argument.sql_type} and "
                "returns TABLE (found boolean): every answer is a 200, never a 404"
            )
        return None

    def not_found(self, exists: Function | None, path_arguments: list[str]) -> str | None:
        annotation = self.single("notfound")
        if annotation is None:
            if exists is None:
                return None
            return f"unknown {path_arguments[0]} {{{path_arguments[0]}}}"
        if exists is None:
            raise self.fail(
                "@notfound, but no existence function: without one every answer is a 200 "
                "(docs/api-catalog.md, Not found)",
                annotation,
            )
        for name in annotation.names:
            self.argument(name, annotation)
        return annotation.text


def base_schema(value: SqlValue) -> dict[str, Any]:
    """The JSON Schema of a value of this type (an array's: of its elements)."""
    assert value.api_type is not None
    element: dict[str, Any] = (
        {"type": "string", "enum": list(value.enum)}
        if value.enum is not None
        else dict(BASE_SCHEMAS[value.api_type])
    )
    return {"type": "array", "items": element} if value.array else element


def echo_schema(argument: Mapping[str, Any]) -> dict[str, Any]:
    """An echoed argument: its type's schema (not the @argument bounds, which describe
    what a client may send), nullable when it may be left out and then is NULL."""
    element = (
        {"type": "string", "enum": list(argument["enum"])}
        if argument["enum"] is not None
        else dict(BASE_SCHEMAS[argument["type"]])
    )
    schema = {"type": "array", "items": element} if argument["array"] else element
    if argument["required"] or argument["default"] is not None:
        return schema
    nullable = {**schema, "type": [schema["type"], "null"]}
    if "enum" in nullable:
        nullable["enum"] = [*nullable["enum"], None]
    return nullable


# --- The service's start-up check and `reviews-api catalog --check` ----------------------


def signature_differences(catalog: Mapping[str, Any], function_rows: Iterable[Row]) -> list[str]:
    """How the database's functions differ from what the catalog was built from: for each
    endpoint, its function (and existence function) must exist with the catalogued
    arguments (names, types, defaults) and result columns (names, types). Empty: none."""
    functions = {f.signature: f for f in read_functions(function_rows)}
    problems = []
    for endpoint in catalog["endpoints"]:
        where = f"{endpoint['method']} {endpoint['path']}"
        function = functions.get(endpoint["function"])
        if function is None:
            others = [f.signature for f in functions.values() if f.name == endpoint["name"]]
            problems.append(
                f"{where}: the function {endpoint['function']} does not exist"
                + (f" (the database has {', '.join(others)})" if others else "")
            )
        else:
            problems.extend(f"{where}: {p}" for p in _function_differences(endpoint, function))
        if endpoint["exists"] is not None:
            exists = functions.get(endpoint["exists"])
            if exists is None:
                problems.append(
                    f"{where}: the existence function {endpoint['exists']} does not exist"
                )
            elif [(c.name, c.sql_type) for c in exists.columns] != [("found", "boolean")]:
                columns = ", ".join(f"{c.name} {c.sql_type}" for c in exists.columns)
                problems.append(
                    f"{where}: the existence function {endpoint['exists']} returns "
                    f"({columns}), not (found boolean)"
                )
    return problems


def _function_differences(endpoint: Mapping[str, Any], function: Function) -> list[str]:
    problems = []
    name = function.signature
    catalogued = [a["name"] for a in endpoint["arguments"]]
    actual = [a.name for a in function.arguments]
    if catalogued != actual:
        problems.append(
            f"{name} has the arguments ({', '.join(map(str, actual))}), catalogued "
            f"({', '.join(catalogued)})"
        )
    for entry, argument in zip(endpoint["arguments"], function.arguments, strict=False):
        if entry["name"] != argument.name:
            continue
        if entry["sql_type"] != argument.sql_type:
            problems.append(
                f"{name}: argument {argument.name} is {argument.sql_type}, catalogued "
                f"{entry['sql_type']}"
            )
            continue
        if entry["in"] == "path":
            continue  # always given: its default never applies
        catalogued_default = not entry["required"]
        if argument.default is None:
            if catalogued_default:
                problems.append(f"{name}: argument {argument.name} no longer has a DEFAULT")
            continue
        try:
            value = default_value(
                argument.default,
                argument.api_type or "text",
                array=argument.array,
                enum=list(argument.enum) if argument.enum is not None else None,
            )
        except NotConstant:
            problems.append(
                f"{name}: argument {argument.name} has the non-constant DEFAULT {argument.default}"
            )
            continue
        if not catalogued_default:
            problems.append(f"{name}: argument {argument.name} now has a DEFAULT ({_shown(value)})")
        elif value != entry["default"]:
            problems.append(
                f"{name}: argument {argument.name} defaults to {_shown(value)}, catalogued "
                f"{_shown(entry['default'])}"
            )
    catalogued_columns = [(c["name"], c["sql_type"]) for c in endpoint["columns"]]
    actual_columns = [(c.name, c.sql_type) for c in function.columns]
    if [n for n, _ in catalogued_columns] != [n for n, _ in actual_columns]:
        problems.append(
            f"{name} returns the columns ({', '.join(str(n) for n, _ in actual_columns)}), "
            f"catalogued ({', '.join(n for n, _ in catalogued_columns)})"
        )
    else:
        for (column, catalogued_type), (_, actual_type) in zip(
            catalogued_columns, actual_columns, strict=True
        ):
            if catalogued_type != actual_type:
                problems.append(
                    f"{name}: result column {column} is {actual_type}, catalogued {catalogued_type}"
                )
    return problems


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed from the catalog `old` (the file) to `new` (the database), one
    readable line per change: endpoints added or removed, and per endpoint each key."""
    found = []
    if old.get("format") != new.get("format"):
        found.append(f"format: {_shown(old.get('format'))} → {_shown(new.get('format'))}")
    old_endpoints = {_route_of(e): e for e in old.get("endpoints", [])}
    new_endpoints = {_route_of(e): e for e in new.get("endpoints", [])}
    for route in sorted(old_endpoints.keys() | new_endpoints.keys()):
        if route not in new_endpoints:
            found.append(f"{route}: endpoint removed (was {old_endpoints[route]['function']})")
        elif route not in old_endpoints:
            found.append(f"{route}: new endpoint ({new_endpoints[route]['function']})")
        else:
            found.extend(
                f"{route}: {change}"
                for change in _changes(old_endpoints[route], new_endpoints[route], "")
            )
    if not found and list(old_endpoints) != list(new_endpoints):
        found.append("the endpoints are not in path order")
    for key in sorted(set(old) ^ set(new)):
        found.append(f"top-level key {key} {'added' if key in new else 'removed'}")
    return found


def _route_of(endpoint: Mapping[str, Any]) -> str:
    return f"{endpoint.get('method')} {endpoint.get('path')}"


def _changes(old: Any, new: Any, where: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            inner = f"{where}.{key}" if where else str(key)
            if key not in new:
                found.append(f"{inner} removed")
            elif key not in old:
                found.append(f"{inner} added: {_shown(new[key])}")
            else:
                found.extend(_changes(old[key], new[key], inner))
        if not found and list(old) != list(new):
            found.append(f"{where or 'keys'}: key order changed")
        return found
    if _named_list(old) and _named_list(new):
        old_names = [item["name"] for item in old]
        new_names = [item["name"] for item in new]
        found = [f"{where}: {name} removed" for name in old_names if name not in new_names]
        found += [f"{where}: {name} added" for name in new_names if name not in old_names]
        for item in old:
            if item["name"] in new_names:
                other = new[new_names.index(item["name"])]
                found.extend(_changes(item, other, f"{where}[{item['name']}]"))
        kept_old = [name for name in old_names if name in new_names]
        kept_new = [name for name in new_names if name in old_names]
        if kept_old != kept_new:
            found.append(f"{where}: order changed from {kept_old} to {kept_new}")
        return found
    if old != new or type(old) is not type(new):
        if isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > 80:
            old, new = _around_first_difference(old, new)
        return [f"{where} changed from {_shown(old)} to {_shown(new)}"]
    return []


def _around_first_difference(old: str, new: str, context: int = 30) -> tuple[str, str]:
    """Long texts (a statement, a description): from a little before where they differ."""
    same = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    start = max(0, same - context)
    prefix = "…" if start else ""
    return prefix + old[start:], prefix + new[start:]


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(item, dict) and "name" in item for item in value)
        and len({item["name"] for item in value}) == len(value)
        and bool(value)
    )


def _shown(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
