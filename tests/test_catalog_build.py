"""The API catalog's producer (docs/api-catalog.md): COMMENT annotations, defaults as JSON
values, the builder against a real PostgreSQL database with functions made to hit each
pitfall of pg_catalog (issue 13), the statements it writes (inlined, order kept, on both
drivers), `reviews-api catalog --check` as `make test` runs it, and the service's start-up
check of the catalogued signatures."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import aiosql
import asyncpg
import psycopg
import pytest
from conftest import BIN, run_cli
from postgres_server import ThrowawayDatabase
from psycopg.rows import DictRow, dict_row

from service.catalog.annotations import parse_comment
from service.catalog.build import (
    build_catalog,
    catalog_json,
    differences,
    signature_differences,
)
from service.catalog.defaults import NotConstant, default_value
from service.catalog.introspect import catalog_queries, read_catalog
from service.catalog.model import CatalogError
from service.store.sql_files import queries_dir

CATALOG_FILE = queries_dir("catalog.json")
PRODUCT_ROUTE = "GET /v1/products/{product_id}/reviews/summary"
REVIEWER_ROUTE = "GET /v1/reviewers/{reviewer_id}/reviews/summary"

# --- Annotations --------------------------------------------------------------------------


def test_summary_description_and_annotations() -> None:
    parsed = parse_comment(
        "f()",
        "\nThe summary.\nFirst paragraph,\n  its second line.\n\n\nSecond paragraph.\n"
        "@route GET /v1/things/{thing_id}\n  @returns list\n"
        '@argument thing_id {"minLength": 1} The thing\'s id.\n'
        '@column count {"minimum": 0}\n@echo period: from_date to_date\n'
        "@notfound no thing {thing_id}\n",
    )
    assert parsed.summary == "The summary."
    assert parsed.description == "First paragraph, its second line.\n\nSecond paragraph."
    route, returns, argument, column, echo, notfound = parsed.annotations
    assert (route.keyword, route.names, route.line) == (
        "route",
        ("GET", "/v1/things/{thing_id}"),
        7,
    )
    assert returns.names == ("list",)
    assert (argument.names, argument.schema, argument.text) == (
        ("thing_id",),
        {"minLength": 1},
        "The thing's id.",
    )
    assert (column.names, column.schema, column.text) == (("count",), {"minimum": 0}, "")
    assert (echo.object_field, echo.names) == ("period", ("from_date", "to_date"))
    assert (notfound.names, notfound.text) == (("thing_id",), "no thing {thing_id}")


def test_json_is_read_only_as_an_object_right_after_the_name() -> None:
    argument, column = parse_comment(
        "f()", "F.\n@argument x [1] Text\n@column y Is {a}"
    ).annotations
    assert (argument.schema, argument.text) == ({}, "[1] Text")
    assert (column.schema, column.text) == ({}, "Is {a}")


def test_a_comment_without_annotations_is_prose() -> None:
    parsed = parse_comment("f()", "One line only, as 0004 wrote them.")
    assert (parsed.summary, parsed.description, parsed.annotations) == (
        "One line only, as 0004 wrote them.",
        "",
        (),
    )
    assert parse_comment("f()", None).summary == ""


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("@rout GET /x", "unknown annotation @rout"),
        ("@", "unknown annotation @"),
        ("@route POST /x", "only GET routes"),
        ("@route GET x", "must start with /"),
        ("@route GET", "expected @route GET"),
        ("@returns many", "expected @returns object or @returns list"),
        ("@param from_date", "expected @param"),
        ("@param from_date fr/om", "only letters"),
        ('@argument x {"minLength": 1 Text', "is not valid"),
        ("@argument", "expected @argument <name>"),
        ("@echo period:", "expected @echo <field>: "),
        ("@echo a b", "expected @echo <argument> or"),
        ("@group rating_distribution", "expected @group"),
        ("@order", "expected @order"),
        ("@range from_date", "expected @range"),
        ("@items", "expected @items"),
        ("@notfound", "expected @notfound"),
        ("@notfound unknown {id", "expected '}' before end of string"),
        ("@notfound unknown {id!r}", "placeholders are {argument}"),
    ],
)
def test_annotation_errors_name_the_function_and_the_line(line: str, problem: str) -> None:
    comment = f"\nSummary.\nDescription.\n{line}\n"  # as COMMENT ... IS $$<newline> gives it
    with pytest.raises(CatalogError) as raised:
        parse_comment("review_api.f(text)", comment)
    message = str(raised.value)
    assert message.startswith(f"review_api.f(text): COMMENT line 3 {line!r}: "), message
    assert problem in message


# --- Defaults as JSON values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "api_type", "array", "enum", "value"),
    [
        ("NULL::date", "date", False, None, None),
        ("NULL", "text", False, None, None),
        ("'2016-01-01'::date", "date", False, None, "2016-01-01"),
        ("5", "integer", False, None, 5),
        ("'-5'::integer", "integer", False, None, -5),
        ("(-5)", "integer", False, None, -5),
        ("'5'::bigint", "integer", False, None, 5),
        ("0.5", "number", False, None, 0.5),
        ("'1.5'::double precision", "number", False, None, 1.5),
        ("7", "number", False, None, 7),
        ("true", "boolean", False, None, True),
        ("'f'::boolean", "boolean", False, None, False),
        ("'it''s'::text", "text", False, None, "it's"),
        ("'x'::character varying", "text", False, None, "x"),
        ("('x'::character varying(21))::text", "text", False, None, "x"),
        ("'happy'::review_api.mood", "text", False, ["sad", "happy"], "happy"),
        ("'happy'::\"Mood\"", "text", False, ["happy"], "happy"),
        ("ARRAY['a,b'::text, 'c'::text]", "text", True, None, ["a,b", "c"]),
        ("ARRAY['a,b', 'c']::text[]", "text", True, None, ["a,b", "c"]),
        ("'{\"a,b\",c,NULL}'::text[]", "text", True, None, ["a,b", "c", None]),
        ("'{}'::text[]", "text", True, None, []),
        ("ARRAY[]::text[]", "text", True, None, []),
        ("(ARRAY[1, 2])::bigint[]", "integer", True, None, [1, 2]),
        ("'{sad,happy}'::public.mood[]", "text", True, ["sad", "meh", "happy"], ["sad", "happy"]),
        ("NULL::text[]", "text", True, None, None),
    ],
)
def test_constant_defaults_become_json_values(
    expression: str, api_type: str, array: bool, enum: list[str] | None, value: Any
) -> None:
    assert default_value(expression, api_type, array=array, enum=enum) == value


@pytest.mark.parametrize(
    ("expression", "api_type", "array", "enum"),
    [
        ("now()", "date", False, None),
        ("CURRENT_DATE", "date", False, None),
        ("('now'::text)::date", "date", False, None),  # a literal, but not a date
        ("(CURRENT_DATE - 30)", "date", False, None),
        ("1 + 1", "integer", False, None),
        ("nextval('s'::regclass)", "integer", False, None),
        ("'angry'::mood", "text", False, ["sad", "happy"]),
        ("'a'::text", "text", True, None),
        ("ARRAY['a']", "text", False, None),
        ("'{{a}}'::text[]", "text", True, None),
        ("'maybe'::boolean", "boolean", False, None),
        ("5.5", "integer", False, None),
    ],
)
def test_anything_else_is_not_a_constant(
    expression: str, api_type: str, array: bool, enum: list[str] | None
) -> None:
    with pytest.raises(NotConstant):
        default_value(expression, api_type, array=array, enum=enum)


# --- The builder on PostgreSQL --------------------------------------------------------------


@pytest.fixture
def session(make_module_database: ThrowawayDatabase) -> Iterator[psycopg.Connection[DictRow]]:
    """An owner session on the module's migrated database whose changes are rolled back."""
    with psycopg.connect(make_module_database.owner_url, row_factory=dict_row) as connection:
        try:
            yield connection
        finally:
            connection.rollback()


def catalog_after(
    session: psycopg.Connection[DictRow], *statements: str
) -> tuple[dict[str, Any], list[str]]:
    for statement in statements:
        session.execute(statement)
    return read_catalog(session)


def endpoint(catalog: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [entry for entry in catalog["endpoints"] if entry["name"] == name]
    return found


PITFALLS = [
    "CREATE TYPE public.mood AS ENUM ('sad', 'happy')",
    # enumsortorder: sad, meh, happy; the OIDs: sad, happy, meh.
    "ALTER TYPE public.mood ADD VALUE 'meh' BEFORE 'happy'",
    "CREATE TYPE review_api.pair AS (a integer, dropped text, b varchar(21), c numeric)",
    "ALTER TYPE review_api.pair DROP ATTRIBUTE dropped",
    """
    CREATE FUNCTION review_api.product_pitfalls(
        product_id text,
        code varchar(21) DEFAULT 'x',
        tags text[] DEFAULT ARRAY['a,b', 'c'],
        moods public.mood[] DEFAULT '{sad,happy}',
        mood public.mood DEFAULT 'happy',
        since date DEFAULT '2016-01-01',
        top integer DEFAULT 5,
        ratio double precision DEFAULT 0.5,
        flag boolean DEFAULT true,
        note text DEFAULT NULL
    )
    RETURNS SETOF review_api.pair
    LANGUAGE sql STABLE
    AS $$ SELECT 1, 'b'::varchar, 2.5::numeric $$
    """,
    """
    COMMENT ON FUNCTION review_api.product_pitfalls IS $$
    Every pitfall at once.
    @route GET /test/products/{product_id}/pitfalls
    @param top limit
    $$
    """,
    """
    CREATE FUNCTION review_api.product_modes(
        IN product_id text, OUT day date, INOUT label varchar(21) DEFAULT 'x', OUT n bigint
    )
    RETURNS SETOF record
    LANGUAGE sql STABLE
    AS $$ SELECT DATE '2016-01-01', label, 1::bigint $$
    """,
    """
    COMMENT ON FUNCTION review_api.product_modes IS $$
    OUT and INOUT arguments.
    @route GET /test/products/{product_id}/modes
    $$
    """,
]


def test_the_pitfalls_of_pg_catalog(session: psycopg.Connection[DictRow]) -> None:
    catalog, warnings = catalog_after(session, *PITFALLS)
    assert new_warnings(warnings) == []
    # The traps are set: labels in OID order differ, and the type has a dropped attribute.
    facts = session.execute(
        "SELECT (SELECT array_agg(enumlabel ORDER BY oid) FROM pg_enum"
        "        WHERE enumtypid = 'public.mood'::regtype) AS by_oid,"
        "       (SELECT count(*) FROM pg_attribute"
        "        WHERE attrelid = 'review_api.pair'::regclass AND attisdropped) AS dropped"
    ).fetchone()
    assert facts == {"by_oid": ["sad", "happy", "meh"], "dropped": 1}
    pitfalls = endpoint(catalog, "product_pitfalls")
    # Keyed by oid::regprocedure under search_path pg_catalog: every type qualified.
    assert pitfalls["function"] == (
        "review_api.product_pitfalls(text,character varying,text[],public.mood[],public.mood,"
        "date,integer,double precision,boolean,text)"
    )
    arguments = {argument["name"]: argument for argument in pitfalls["arguments"]}
    assert list(arguments) == [
        "product_id",
        "code",
        "tags",
        "moods",
        "mood",
        "since",
        "top",
        "ratio",
        "flag",
        "note",
    ]
    # varchar(21) on an argument: the length is lost, PostgreSQL keeps only the type.
    assert (arguments["code"]["sql_type"], arguments["code"]["type"]) == (
        "character varying",
        "text",
    )
    assert arguments["tags"]["default"] == ["a,b", "c"]  # not split at the comma
    assert arguments["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    labels = ["sad", "meh", "happy"]  # enumsortorder, not OID order
    assert arguments["moods"] == {
        "name": "moods",
        "public": "moods",
        "in": "query",
        "sql_type": "public.mood[]",
        "type": "text",
        "array": True,
        "enum": labels,
        "required": False,
        "default": ["sad", "happy"],
        "description": "",
        "schema": {"type": "array", "items": {"type": "string", "enum": labels}},
    }
    assert (arguments["mood"]["sql_type"], arguments["mood"]["default"]) == ("public.mood", "happy")
    assert {name: arguments[name]["default"] for name in ("since", "top", "ratio", "flag")} == {
        "since": "2016-01-01",
        "top": 5,
        "ratio": 0.5,
        "flag": True,
    }
    assert arguments["top"]["public"] == "limit"
    assert (arguments["note"]["required"], arguments["note"]["default"]) == (False, None)
    assert (arguments["product_id"]["in"], arguments["product_id"]["required"]) == ("path", True)
    # SETOF a composite type: its attributes, without the dropped one; typmods kept there.
    assert pitfalls["columns"] == [
        {"name": "a", "sql_type": "integer", "type": "integer"},
        {"name": "b", "sql_type": "character varying(21)", "type": "text"},
        {"name": "c", "sql_type": "numeric", "type": "number"},
    ]
    assert pitfalls["exists"] == "review_api.product_exists(text)"
    assert pitfalls["not_found"] == "unknown product_id {product_id}"
    assert pitfalls["returns"] == "list" and pitfalls["inlinable"] is True

    modes = endpoint(catalog, "product_modes")
    assert modes["function"] == "review_api.product_modes(text,character varying)"
    # The default of label, third of all arguments but second IN one, is found.
    assert [(a["name"], a["sql_type"], a["default"]) for a in modes["arguments"]] == [
        ("product_id", "text", None),
        ("label", "character varying", "x"),
    ]
    # INOUT is an argument and a column; OUT a column only; varchar(21) lost here too.
    assert [(c["name"], c["sql_type"]) for c in modes["columns"]] == [
        ("day", "date"),
        ("label", "character varying"),
        ("n", "bigint"),
    ]
    assert modes["statement"] == (
        'SELECT e.found AS "?found", v."?version", f.* FROM (SELECT coalesce(max(l.load_id), 0)'
        '::text AS "?version" FROM review_api.data_loads AS l) AS v CROSS JOIN '
        "(SELECT e.found FROM review_api.product_exists(product_id => $1::text)"
        ' AS e OFFSET 0) AS e LEFT JOIN LATERAL (SELECT true AS "?row", r.day, r.label, r.n FROM '
        "review_api.product_modes(product_id => $1::text, label => $2::character varying) AS r)"
        " AS f ON e.found"
    )


def test_the_catalog_does_not_depend_on_the_search_path(
    session: psycopg.Connection[DictRow],
) -> None:
    for statement in PITFALLS:
        session.execute(statement)
    session.execute("SET search_path = public, review_api")
    assert session.execute("SELECT format_type('public.mood'::regtype, NULL) AS t").fetchone() == {
        "t": "mood"  # what a catalog read under the login's search_path would say
    }
    under_public = read_catalog(session)
    session.execute("SET search_path = review_api")
    assert read_catalog(session) == under_public


def test_the_summaries_are_todays_api(session: psycopg.Connection[DictRow]) -> None:
    """Field for field what service/catalog/endpoints.py declared by hand before 0009."""
    catalog, warnings = read_catalog(session)
    assert new_warnings(warnings) == []
    summaries = [e for e in catalog["endpoints"] if e["path"].endswith("_id}/reviews/summary")]
    assert [entry["name"] for entry in summaries] == [
        "product_review_summary",
        "reviewer_review_summary",
    ]
    for entry in summaries:
        kind = entry["name"].split("_")[0]
        today = TODAY[entry["name"]]
        assert entry["path"] == f"/v1/{kind}s/{{{kind}_id}}/reviews/summary"
        assert entry["summary"] == today["summary"]
        parameters = [
            (a["public"], a["in"], a["required"], a["description"], a["schema"])
            for a in entry["arguments"]
        ]
        assert json.dumps(parameters) == json.dumps(today["parameters"])
        fields = [(f["name"], f["description"], f["schema"]) for f in entry["fields"]]
        assert json.dumps(fields) == json.dumps(today["fields"])  # key order too
        assert entry["returns"] == "object"
        assert entry["ranges"] == [["from_date", "to_date"]]
        assert entry["exists"] == f"review_api.{kind}_exists(text)"
        assert entry["not_found"] == f"no reviews at all for {kind}_id {{{kind}_id}}"
        assert entry["inlinable"] is True


ISO_DATE = {
    "type": "string",
    "format": "date",
    "pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$",
}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
COUNT = {"type": "integer", "minimum": 0}
ID = {"type": "string", "minLength": 1, "maxLength": 64}
BOUNDS = [
    (
        "from",
        "query",
        False,
        "First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; "
        "1900-01-01 to 2999-12-31, not after `to`.",
        ISO_DATE,
    ),
    (
        "to",
        "query",
        False,
        "Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; "
        "1900-01-01 to 2999-12-31.",
        ISO_DATE,
    ),
]
PERIOD = (
    "period",
    "The date range asked for (`null` where not given), not the data's extent.",
    {
        "type": "object",
        "properties": {"from": NULLABLE_DATE, "to": NULLABLE_DATE},
        "required": ["from", "to"],
    },
)
FIGURES = [
    ("review_count", "Reviews in the period.", COUNT),
    (
        "average_rating",
        "Mean star rating (sum / count, unrounded); `null` when there is no review.",
        {"type": ["number", "null"], "minimum": 1, "maximum": 5},
    ),
    (
        "rating_distribution",
        "Reviews per star rating; all five keys always present.",
        {
            "type": "object",
            "properties": {str(stars): COUNT for stars in range(1, 6)},
            "required": [str(stars) for stars in range(1, 6)],
        },
    ),
    ("verified_review_count", "Reviews from verified purchases.", COUNT),
    ("helpful_votes", "Sum of the reviews' helpful votes (no vote counts 0).", COUNT),
]
LAST_DAYS = [
    ("first_review_date", "Earliest review day in the period.", NULLABLE_DATE),
    ("last_review_date", "Latest review day in the period.", NULLABLE_DATE),
]
TODAY: dict[str, dict[str, Any]] = {
    "product_review_summary": {
        "summary": "Review aggregates of one product, optionally within a date range.",
        "parameters": [
            ("product_id", "path", True, "Product id (the ASIN), 1 to 64 characters.", ID),
            *BOUNDS,
        ],
        "fields": [
            ("product_id", "The id asked for, as given.", {"type": "string"}),
            PERIOD,
            *FIGURES,
            ("distinct_reviewers", "Different reviewers in the period.", COUNT),
            *LAST_DAYS,
        ],
    },
    "reviewer_review_summary": {
        "summary": "Review aggregates of one reviewer, optionally within a date range.",
        "parameters": [
            ("reviewer_id", "path", True, "Reviewer (user) id, 1 to 64 characters.", ID),
            *BOUNDS,
        ],
        "fields": [
            ("reviewer_id", "The id asked for, as given.", {"type": "string"}),
            (
                "reviewer_name",
                "Latest non-null display name over all the reviewer's reviews, whatever the "
                "period; `null` if they never had one.",
                {"type": ["string", "null"]},
            ),
            PERIOD,
            *FIGURES,
            ("distinct_products", "Different products reviewed.", COUNT),
            *LAST_DAYS,
        ],
    },
}


def function(
    name: str,
    comment: str,
    *,
    arguments: str = "thing_id text",
    options: str = "LANGUAGE sql STABLE",
    returns: str = "TABLE (n integer)",
    body: str = "SELECT 1",
) -> list[str]:
    """A test-only function of review_api and its COMMENT (a summary line comes first)."""
    return [
        f"CREATE FUNCTION review_api.{name}({arguments}) RETURNS {returns} {options}"
        f" AS $$ {body} $$",
        f"COMMENT ON FUNCTION review_api.{name} IS $$\nA test function.\n{comment}\n$$",
    ]


REFUSALS: dict[str, tuple[list[str], str]] = {
    "overloaded": (
        [
            *function("twice", "@route GET /test/twice/{thing_id}"),
            "CREATE FUNCTION review_api.twice(thing_id integer) RETURNS TABLE (n integer) "
            "LANGUAGE sql AS $$ SELECT 1 $$",
        ],
        "review_api.twice(text): overloaded (review_api.twice(integer), review_api.twice(text))",
    ),
    "duplicate route": (
        [
            *function("one", "@route GET /test/same/{thing_id}"),
            *function("other", "@route GET /test/same/{thing}", arguments="thing text"),
        ],
        "both declare the route GET /test/same/",
    ),
    "non-constant default": (
        function(
            "since", "@route GET /test/since", arguments="since date DEFAULT CURRENT_DATE - 30"
        ),
        "argument since has a DEFAULT that is not a constant ((CURRENT_DATE - 30))",
    ),
    "path parameter not an argument": (
        function("lost", "@route GET /test/{thing}"),
        "COMMENT line 2 '@route GET /test/{thing}': @route names thing, not an argument",
    ),
    "unknown annotation": (
        function("typo", "@route GET /test/typo\n@retruns list"),
        "review_api.typo(text): COMMENT line 3 '@retruns list': unknown annotation @retruns",
    ),
    "echo of no argument": (
        function("echo", "@route GET /test/echo\n@echo thing"),
        "@echo names thing, not an argument of the function (thing_id)",
    ),
    "group of no column": (
        function("group", "@route GET /test/group\n@group stars rating_"),
        "no result column starts with rating_",
    ),
    "order of no field": (
        function("order", "@route GET /test/order\n@order nothing n"),
        "@order names nothing, not a field (n)",
    ),
    "param of no argument": (
        function("param", "@route GET /test/param\n@param from_date from"),
        "@param names from_date, not an argument",
    ),
    "argument of no argument": (
        function("argument", "@route GET /test/argument\n@argument from_date Day."),
        "@argument names from_date, not an argument",
    ),
    "column of no field": (
        function("column", "@route GET /test/column\n@column count Reviews."),
        "@column names count, not a field (n)",
    ),
    "range of no argument": (
        function("ranged", "@route GET /test/range\n@range thing_id to_date"),
        "@range names to_date, not an argument",
    ),
    "unsupported argument type": (
        function("stamp", "@route GET /test/stamp", arguments="at timestamptz"),
        "argument at is of type timestamp with time zone, which the API does not serve",
    ),
    "unsupported column type": (
        function(
            "doc", "@route GET /test/doc", returns="TABLE (doc json)", body="SELECT '1'::json"
        ),
        "result column doc is of type json, which the API does not serve",
    ),
    "notfound without an existence function": (
        function("gone", "@route GET /test/{thing_id}\n@notfound no {thing_id}"),
        "@notfound, but no existence function",
    ),
    "a scalar result": (
        function("scalar", "@route GET /test/scalar", returns="integer"),
        "returns integer, not named columns",
    ),
    "an unnamed result column": (
        function(
            "anonymous",
            "@route GET /test/anonymous",
            arguments="thing_id text, OUT integer",
            returns="SETOF integer",
        ),
        "result column 1 has no name",
    ),
    "a reserved result column": (
        function("marked", "@route GET /test/marked", returns='TABLE ("?row" integer)'),
        "result column ?row: names starting with ? are reserved",
    ),
    "an unnamed argument": (
        function("unnamed", "@route GET /test/unnamed", arguments="text"),
        "argument 1 has no name",
    ),
    "the service's own parameter": (
        function("formats", "@route GET /test/formats", arguments="format text"),
        "the query parameter format is the service's own",
    ),
    "no summary": (
        [
            *function("bare", "")[:1],
            "COMMENT ON FUNCTION review_api.bare IS '@route GET /test/bare'",
        ],
        "the COMMENT's first line must be the endpoint's summary",
    ),
    "a procedure": (
        [
            "CREATE PROCEDURE review_api.step(thing_id text) LANGUAGE sql AS $$ SELECT 1 $$",
            "COMMENT ON PROCEDURE review_api.step IS $$\nA step.\n@route GET /test/step\n$$",
        ],
        "a procedure cannot be an endpoint",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_name_the_function_and_the_problem(
    session: psycopg.Connection[DictRow], case: str
) -> None:
    statements, problem = REFUSALS[case]
    with pytest.raises(CatalogError) as raised:
        catalog_after(session, *statements)
    assert problem in str(raised.value)


WARNINGS: dict[str, tuple[str, str]] = {
    "strict": ("LANGUAGE sql STABLE STRICT", "STRICT"),
    "set clause": (
        "LANGUAGE sql STABLE SET search_path = pg_catalog",
        "a SET clause (search_path=pg_catalog)",
    ),
    "security definer": ("LANGUAGE sql STABLE SECURITY DEFINER", "SECURITY DEFINER"),
    "volatile": ("LANGUAGE sql VOLATILE", "VOLATILE"),
    "plpgsql": ("LANGUAGE plpgsql STABLE", "LANGUAGE plpgsql, not sql"),
}


@pytest.mark.parametrize("case", list(WARNINGS))
def test_what_cannot_be_inlined_is_warned_about(
    session: psycopg.Connection[DictRow], case: str
) -> None:
    options, reason = WARNINGS[case]
    body = "BEGIN RETURN QUERY SELECT 1; END" if "plpgsql" in options else "SELECT 1"
    catalog, warnings = catalog_after(
        session, *function("slow", "@route GET /test/slow", options=options, body=body)
    )
    assert new_warnings(warnings) == [
        f"review_api.slow(text): the planner cannot inline it ({reason}), so every request "
        "runs it as a function scan"
    ]
    assert endpoint(catalog, "slow")["inlinable"] is False


def test_a_function_returning_one_record_is_warned_about(
    session: psycopg.Connection[DictRow],
) -> None:
    _, warnings = catalog_after(
        session,
        *function(
            "single",
            "@route GET /test/single",
            arguments="thing_id text, OUT n integer",
            returns="integer",
        ),
    )
    assert len(new_warnings(warnings)) == 1
    assert "not a set-returning function" in new_warnings(warnings)[0]


def test_a_near_miss_existence_function_is_warned_about(
    session: psycopg.Connection[DictRow],
) -> None:
    catalog, warnings = catalog_after(
        session,
        *function("thing_exists", "", returns="boolean", body="SELECT true"),
        *function("thing_count", "@route GET /test/things/{thing_id}"),
    )
    assert endpoint(catalog, "thing_count")["exists"] is None
    assert new_warnings(warnings) == [
        "review_api.thing_count(text): review_api.thing_exists(text) is not its existence "
        "function, which takes thing_id text and returns TABLE (found boolean): every answer "
        "is a 200, never a 404"
    ]


# --- The statements ---------------------------------------------------------------------

REVIEWS = [  # product P1: reviews on four days, two on the last
    (index, "P1", f"R{index}", day)
    for index, day in enumerate([1451606400, 1451692800, 1454284800, 1456790400, 1456790400])
]


def insert_reviews(session: psycopg.Connection[DictRow]) -> None:
    for index, product, reviewer, unix_time in REVIEWS:
        session.execute(
            'INSERT INTO public.reviews ("index", "overall", "verified", "reviewTime", '
            '"reviewerID", "productID", "unixReviewTime") VALUES (%s, 5, true, %s, %s, %s, %s)',
            (index, "01 01, 2016", reviewer, product, unix_time),
        )


def generic_plan_nodes(
    session: psycopg.Connection[DictRow], statement: str, parameters: str
) -> list[dict[str, Any]]:
    session.execute("SET LOCAL enable_seqscan = off")
    session.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    session.execute(f"PREPARE catalog_statement AS {statement}")
    try:
        row = session.execute(
            f"EXPLAIN (FORMAT JSON) EXECUTE catalog_statement({parameters})"
        ).fetchone()
    finally:
        session.execute("DEALLOCATE catalog_statement")
    assert row is not None
    nodes, pending = [], [row["QUERY PLAN"][0]["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


@pytest.mark.parametrize("with_exists", [True, False], ids=["joined", "alone"])
@pytest.mark.parametrize("kind", ["product", "reviewer"])
def test_the_statements_are_inlined_into_index_only_scans(
    session: psycopg.Connection[DictRow], kind: str, with_exists: bool
) -> None:
    queries = catalog_queries("psycopg")
    queries.set_catalog_search_path(session)
    statement = queries.endpoint_statement(
        session,
        function_signature=f"review_api.{kind}_review_summary(text,date,date)",
        exists_signature=f"review_api.{kind}_exists(text)" if with_exists else None,
    )
    # The product pages' indexes (0011) lead with (productID, review_date) too: on this
    # never-vacuumed table (no page all-visible, so an index-only scan saves nothing) the
    # planner reads the narrowest of them. Loaded and vacuumed, the summaries are
    # index-only on the covering index (test_postgres_plans.py, test_batches.py).
    session.execute(
        "DROP INDEX public.reviews_product_recent_idx, public.reviews_product_helpful_idx"
    )
    nodes = generic_plan_nodes(session, statement, "'P1', NULL, '2016-12-31'")
    types = {node["Node Type"] for node in nodes}
    assert "Function Scan" not in types, "a function was not inlined"
    assert {t for t in types if t.endswith("Scan")} <= {"Index Only Scan", "Subquery Scan"}
    assert f"reviews_{kind}_date_idx" in {node.get("Index Name") for node in nodes}


DAYS = [
    *function(
        "product_days",
        "@route GET /test/products/{product_id}/days\n@returns list",
        arguments="product_id text",
        returns="TABLE (day date, n bigint)",
        body="SELECT r.review_date, count(*) FROM review_api.reviews AS r "
        "WHERE r.product_id = product_days.product_id GROUP BY r.review_date "
        "ORDER BY r.review_date DESC",
    )
]


def test_a_list_keeps_the_functions_order(session: psycopg.Connection[DictRow]) -> None:
    insert_reviews(session)
    catalog, _ = catalog_after(session, *DAYS)
    statement = endpoint(catalog, "product_days")["statement"]
    assert "LEFT JOIN LATERAL" in statement
    session.execute(f"PREPARE days AS {statement}")
    rows = session.execute("EXECUTE days('P1')").fetchall()
    direct = session.execute("SELECT * FROM review_api.product_days('P1')").fetchall()
    assert [(row["day"], row["n"]) for row in rows] == [(row["day"], row["n"]) for row in direct]
    assert [row["n"] for row in rows] == [2, 1, 1, 1]  # newest first, as the function orders
    assert all(row["?found"] and row["?row"] for row in rows)
    # An unknown id: one row, "?found" false and nothing else.
    unknown = session.execute("EXECUTE days('NOPE')").fetchall()
    assert [(row["?found"], row["?row"]) for row in unknown] == [(False, None)]
    nodes = generic_plan_nodes(session, statement, "'P1'")
    assert "Function Scan" not in {node["Node Type"] for node in nodes}


def test_the_queries_and_statements_work_under_asyncpg(
    make_module_database: ThrowawayDatabase, session: psycopg.Connection[DictRow]
) -> None:
    """The service reads api_functions and prepares the statements with asyncpg, as the
    read-only login (whose grants cover the existence functions)."""
    insert_reviews(session)
    session.commit()
    try:
        catalog, _ = read_catalog(session)
        psycopg_rows = list(catalog_queries("psycopg").api_functions(session))
        asyncpg_rows, answers = asyncio.run(asyncpg_reads(make_module_database.reader_url, catalog))
    finally:
        session.execute("DELETE FROM public.reviews")
        session.commit()
    assert asyncpg_rows == psycopg_rows
    product, unknown, reviewer = answers
    assert (product["?found"], product["?row"], product["review_count"]) == (True, True, 5)
    assert (product["rating_5"], str(product["last_review_date"])) == (5, "2016-03-01")
    assert (unknown["?found"], unknown["?row"], unknown["review_count"]) == (False, None, None)
    assert (reviewer["?found"], reviewer["review_count"]) == (True, 1)


async def asyncpg_reads(
    url: str, catalog: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    queries = aiosql.from_path(queries_dir("catalog"), "asyncpg")
    connection = await asyncpg.connect(url)
    try:
        await queries.set_catalog_search_path(connection)
        rows = [dict(row) async for row in queries.api_functions(connection)]
        product = endpoint(catalog, "product_review_summary")["statement"]
        reviewer = endpoint(catalog, "reviewer_review_summary")["statement"]
        answers = [
            dict(await connection.fetchrow(product, "P1", None, None)),
            dict(await connection.fetchrow(product, "NOPE", None, None)),
            dict(await connection.fetchrow(reviewer, "R4", None, None)),
        ]
    finally:
        await connection.close()
    return rows, answers


# --- The start-up check -------------------------------------------------------------------


# The rankings are plpgsql by design (migration 0012: a strategy per kind of range, dynamic
# ORDER BY on the sort key's index): the builder warns that they cannot be inlined.
SHIPPED_WARNINGS = ("review_api.top_products(", "review_api.top_reviewers(")


def new_warnings(warnings: list[str]) -> list[str]:
    """The warnings beyond those the shipped migrations give by design."""
    return [w for w in warnings if not w.startswith(SHIPPED_WARNINGS)]


def checked_in() -> dict[str, Any]:
    """The checked-in catalog's summaries (the entries these tests know), in path order."""
    catalog = dict(json.loads(CATALOG_FILE.read_text(encoding="utf-8")))
    catalog["endpoints"] = [
        e for e in catalog["endpoints"] if e["path"].endswith("_id}/reviews/summary")
    ]
    return catalog


def rows_after(session: psycopg.Connection[DictRow], *statements: str) -> list[dict[str, Any]]:
    for statement in statements:
        session.execute(statement)
    queries = catalog_queries("psycopg")
    queries.set_catalog_search_path(session)
    return [dict(row) for row in queries.api_functions(session)]


PRODUCT_WITH = """
CREATE FUNCTION review_api.product_review_summary(
    product_id TEXT, from_date DATE DEFAULT {default}, to_date DATE DEFAULT NULL
)
RETURNS TABLE (
    review_count BIGINT, average_rating {average}, rating_1 BIGINT, rating_2 BIGINT,
    rating_3 BIGINT, rating_4 BIGINT, rating_5 BIGINT, verified_review_count BIGINT,
    helpful_votes BIGINT, distinct_reviewers BIGINT, first_review_date DATE,
    last_review_date DATE
)
LANGUAGE sql STABLE
AS $$ SELECT 0::bigint, NULL::{average}, 0, 0, 0, 0, 0, 0, 0, 0, NULL::date, NULL::date $$
"""


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ([], []),
        (
            ["DROP FUNCTION review_api.reviewer_review_summary"],
            [
                f"{REVIEWER_ROUTE}: the function "
                "review_api.reviewer_review_summary(text,date,date) does not exist"
            ],
        ),
        (
            [
                "DROP FUNCTION review_api.product_review_summary",
                PRODUCT_WITH.format(default="NULL", average="NUMERIC"),
            ],
            [
                f"{PRODUCT_ROUTE}: review_api.product_review_summary(text,date,date): result "
                "column average_rating is numeric, catalogued double precision"
            ],
        ),
        (
            [
                "DROP FUNCTION review_api.product_review_summary",
                PRODUCT_WITH.format(default="'2016-01-01'", average="DOUBLE PRECISION"),
            ],
            [
                f"{PRODUCT_ROUTE}: review_api.product_review_summary(text,date,date): argument "
                'from_date defaults to "2016-01-01", catalogued null'
            ],
        ),
        (
            [
                "DROP FUNCTION review_api.reviewer_review_summary",
                "CREATE FUNCTION review_api.reviewer_review_summary(reviewer_id TEXT) "
                "RETURNS TABLE (n integer) LANGUAGE sql AS $$ SELECT 1 $$",
            ],
            [
                f"{REVIEWER_ROUTE}: the function review_api.reviewer_review_summary(text,date,"
                "date) does not exist (the database has review_api.reviewer_review_summary(text))"
            ],
        ),
        (
            ["DROP FUNCTION review_api.product_exists"],
            [
                f"{PRODUCT_ROUTE}: the existence function review_api.product_exists(text) does not "
                "exist"
            ],
        ),
    ],
    ids=["unchanged", "dropped", "column type", "default", "signature", "existence"],
)
def test_signature_differences_name_what_changed(
    session: psycopg.Connection[DictRow], statements: list[str], expected: list[str]
) -> None:
    assert signature_differences(checked_in(), rows_after(session, *statements)) == expected


# --- `reviews-api catalog` ----------------------------------------------------------------


def catalog_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reviews-api"), "catalog", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_passes_on_a_fresh_migration_and_names_a_change(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Any
) -> None:
    """What `make test` runs: the checked-in file is what the migrations give."""
    database = make_database()
    check = catalog_cli("--check", "--database-url", database.owner_url)
    assert (check.returncode, check.stdout) == (0, "catalog up to date\n")
    stderr = [
        line.removeprefix("reviews-api catalog: warning: ") for line in check.stderr.splitlines()
    ]
    assert new_warnings(stderr) == []

    written = tmp_path / "catalog.json"
    run_cli("catalog", "--output", str(written), "--database-url", database.owner_url)
    assert written.read_text(encoding="utf-8") == CATALOG_FILE.read_text(encoding="utf-8")

    with psycopg.connect(database.owner_url) as owner:
        owner.execute(
            "COMMENT ON FUNCTION review_api.reviewer_review_summary IS $$\nChanged.\n"
            "@route GET /v1/reviewers/{reviewer_id}/reviews/summary\n$$"
        )
    changed = catalog_cli("--check", "--database-url", database.owner_url)
    assert changed.returncode == 1, changed
    lines = changed.stdout.splitlines()
    assert lines[0] == f"{CATALOG_FILE} differs from the functions of the database:"
    assert (
        f'  {REVIEWER_ROUTE}: summary changed from "Review aggregates of one reviewer, '
        'optionally within a date range." to "Changed."'
    ) in lines
    assert f'  {REVIEWER_ROUTE}: returns changed from "object" to "list"' in lines
    assert f"  {REVIEWER_ROUTE}: fields: period removed" in lines
    assert lines[-1].startswith("rewrite it with `reviews-api catalog`")
    assert CATALOG_FILE.read_text(encoding="utf-8") == written.read_text(encoding="utf-8")


def test_check_refuses_a_file_laid_out_otherwise(
    make_module_database: ThrowawayDatabase, tmp_path: Any
) -> None:
    reordered = tmp_path / "catalog.json"
    whole = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    reordered.write_text(json.dumps(whole, indent=4), encoding="utf-8")
    check = catalog_cli(
        "--check", "--output", str(reordered), "--database-url", make_module_database.owner_url
    )
    assert check.returncode == 1
    assert "the file is not laid out as `reviews-api catalog` writes it" in check.stdout


def test_catalog_needs_an_owner_url() -> None:
    result = catalog_cli("--check")
    assert result.returncode == 1
    assert "give --database-url or set MIGRATION_DATABASE_URL" in result.stderr


# --- differences ------------------------------------------------------------------------


def test_differences_are_one_readable_line_each() -> None:
    old = checked_in()
    new = json.loads(json.dumps(old))
    product, reviewer = new["endpoints"]
    product["arguments"][1]["default"] = "2016-01-01"
    product["fields"].append(product["fields"].pop(0))
    del new["endpoints"][1]
    added = dict(reviewer, path="/v2/reviewers/{reviewer_id}/reviews/summary")
    new["endpoints"].append(added)
    assert differences(old, new) == [
        f'{PRODUCT_ROUTE}: arguments[from_date].default changed from null to "2016-01-01"',
        f"{PRODUCT_ROUTE}: fields: order changed from ['product_id', 'period', 'review_count', "
        "'average_rating', 'rating_distribution', 'verified_review_count', 'helpful_votes', "
        "'distinct_reviewers', 'first_review_date', 'last_review_date'] to ['period', "
        "'review_count', 'average_rating', 'rating_distribution', 'verified_review_count', "
        "'helpful_votes', 'distinct_reviewers', 'first_review_date', 'last_review_date', "
        "'product_id']",
        f"{REVIEWER_ROUTE}: endpoint removed (was review_api.reviewer_review_summary(text,date,"
        "date))",
        "GET /v2/reviewers/{reviewer_id}/reviews/summary: new endpoint "
        "(review_api.reviewer_review_summary(text,date,date))",
    ]
    assert differences(old, old) == []


def test_the_file_is_what_the_builder_writes() -> None:
    text = CATALOG_FILE.read_text(encoding="utf-8")
    assert catalog_json(json.loads(text)) == text
    assert [entry["path"] for entry in json.loads(text)["endpoints"]] == sorted(
        entry["path"] for entry in json.loads(text)["endpoints"]
    )


def test_build_catalog_needs_no_database_for_its_rules() -> None:
    """The builder is a function of rows: the statement comes from a callable."""
    rows = [
        {
            "signature": "review_api.f(text)",
            "name": "f",
            "comment": "F.\n@route GET /f/{x}",
            "kind": "f",
            "language": "sql",
            "volatility": "s",
            "strict": False,
            "security_definer": False,
            "config": None,
            "returns_set": True,
            "result_type": "record",
            "arguments": json.dumps([value("x", "i", "text")]),
            "columns": json.dumps([value("n", "t", "integer")]),
        }
    ]
    catalog, warnings = build_catalog(rows, lambda function, exists: f"-- {function} {exists}")
    assert new_warnings(warnings) == []
    assert catalog["endpoints"][0]["statement"] == "-- review_api.f(text) None"
    assert catalog["endpoints"][0]["not_found"] is None


def value(name: str, mode: str, sql_type: str) -> dict[str, Any]:
    return {
        "name": name,
        "mode": mode,
        "sql_type": sql_type,
        "element_type": sql_type,
        "element_kind": "b",
        "array": False,
        "enum": None,
        "default": None,
    }


def test_a_long_text_is_shown_where_it_changes() -> None:
    old = checked_in()
    new = json.loads(json.dumps(old))
    statement = new["endpoints"][0]["statement"]
    new["endpoints"][0]["statement"] = statement.replace("r.helpful_votes", "r.votes")
    [line] = differences(old, new)
    assert line.startswith(f'{PRODUCT_ROUTE}: statement changed from "…')
    assert "r.helpful_votes" in line and "r.votes" in line
