"""The batch summaries at SQL level, on both dialects, against the plain-Python oracle:
review_api.product_review_summaries / reviewer_review_summaries on a migrated PostgreSQL
database (migrations/postgres/0011.batches-reviews-dataset.sql), called by the read-only
login as a BI user would, and the queries of the same names in queries/sqlite/batches.sql
on the original SQLite schema (the ids as JSON text, as the service passes arrays).

Every id of the suite's test rows is asked for, a hundred at a time (the API's maximum),
mixed with unknown ids and repeats, over periods that cut through the data, so every
summary row and the order of the rows are compared."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import aiosql
import oracle
import psycopg
import pytest
from conftest import run_cli
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import AWKWARD_IDS, CSV_AWKWARD_NAME, Review, generate_reviews, write_sqlite

from service.store.sql_files import queries_dir

SQLITE_QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")
UNKNOWN = ["NO-SUCH-ID", "no-such-id", "P00", ""]

Row = tuple[Any, ...]
Batch = Callable[[list[Review], list[str], date | None, date | None], dict[str, Any]]
# kind: (the oracle's body, the SQL function and SQLite query, its array argument, the id
# of that kind, the single summary of 0004)
KINDS: dict[str, tuple[Batch, str, str, Callable[[Review], str], str]] = {
    "products": (
        oracle.product_summaries,
        "product_review_summaries",
        "product_ids",
        lambda r: r.productID,
        "product_review_summary",
    ),
    "reviewers": (
        oracle.reviewer_summaries,
        "reviewer_review_summaries",
        "reviewer_ids",
        lambda r: r.reviewerID,
        "reviewer_review_summary",
    ),
}
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "five years": (date(2012, 1, 1), date(2016, 12, 31)),
    "from only": (date(2015, 6, 15), None),
    "to only": (None, date(2010, 3, 31)),
    # CLOCK's middle day: its reviews at 00:00:00 and 23:59:59 are in, its neighbours' out.
    "one day": (date(2012, 2, 29), date(2012, 2, 29)),
    "nothing in range": (date(1900, 1, 1), date(1999, 12, 31)),
}


def as_rows(kind: str, body: dict[str, Any]) -> list[Row]:
    """The oracle's items as the function's rows: the id, the summary's columns in 0004's
    order (the reviewer's name last)."""
    rows = []
    for item in body["items"]:
        row = [
            item[f"{kind[:-1]}_id"],
            item["review_count"],
            item["average_rating"],
            *(item["rating_distribution"][str(stars)] for stars in range(1, 6)),
            item["verified_review_count"],
            item["helpful_votes"],
            item["distinct_reviewers" if kind == "products" else "distinct_products"],
            item["first_review_date"],
            item["last_review_date"],
        ]
        if kind == "reviewers":
            row.append(item["reviewer_name"])
        rows.append(tuple(row))
    return rows


def iso(row: Row) -> Row:
    """Dates as ISO text, as SQLite answers them (psycopg gives datetime.date)."""
    return tuple(value.isoformat() if isinstance(value, date) else value for value in row)


@pytest.fixture(scope="module")
def rows() -> list[Review]:
    return generate_reviews()


@pytest.fixture(scope="module")
def sqlite_file(rows: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("batches") / "reviews.sqlite", rows)


@pytest.fixture(scope="module")
def loaded_database(
    make_module_database: ThrowawayDatabase, sqlite_file: Path
) -> ThrowawayDatabase:
    """The rows imported by `reviews-api load`, as production data is."""
    run_cli("load", "--source", str(sqlite_file), "--database-url", make_module_database.owner_url)
    return make_module_database


@pytest.fixture(scope="module")
def reader(loaded_database: ThrowawayDatabase) -> Iterator[psycopg.Connection[Row]]:
    """The read-only login (member of reviews_reader): the functions' grant is tested too."""
    with psycopg.connect(loaded_database.reader_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def sqlite_connection(sqlite_file: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"{sqlite_file.as_uri()}?mode=ro", uri=True)) as connection:
        yield connection


def postgres_rows(
    connection: psycopg.Connection[Row],
    function: str,
    ids: list[str],
    date_from: date | None,
    date_to: date | None,
) -> list[Row]:
    """The function called by argument name, as the API's catalog statement calls it."""
    array = KINDS[function.split("_")[0] + "s"][2]
    statement = sql.SQL(
        "SELECT * FROM review_api.{}({} => %s::text[], from_date => %s, to_date => %s)"
    ).format(sql.Identifier(function), sql.Identifier(array))
    return [iso(row) for row in connection.execute(statement, (ids, date_from, date_to))]


def sqlite_rows(
    connection: sqlite3.Connection,
    query: str,
    ids: list[str],
    date_from: date | None,
    date_to: date | None,
) -> list[Row]:
    """The query of the same name: the ids as a JSON array, the dates as ISO text."""
    arguments = {
        KINDS[query.split("_")[0] + "s"][2]: json.dumps(ids),
        "from_date": date_from.isoformat() if date_from else None,
        "to_date": date_to.isoformat() if date_to else None,
    }
    return list(getattr(SQLITE_QUERIES, query)(connection, **arguments))


@pytest.fixture(params=["sqlite", "postgres"])
def batch_rows(
    request: pytest.FixtureRequest,
) -> Callable[[str, list[str], date | None, date | None], list[Row]]:
    """(function name, ids, from, to) -> the rows of the dialect under test."""
    if request.param == "sqlite":
        connection = request.getfixturevalue("sqlite_connection")
        return lambda name, *arguments: sqlite_rows(connection, name, *arguments)
    postgres = request.getfixturevalue("reader")
    return lambda name, *arguments: postgres_rows(postgres, name, *arguments)


def asked_ids(known: list[str], seed: int) -> list[list[str]]:
    """Every known id, with unknown ids and some ids repeated, shuffled (fixed seed), in
    requests of at most 100 ids."""
    rng = random.Random(seed)
    ids = known + UNKNOWN + rng.sample(known, 20) + UNKNOWN[:2]
    rng.shuffle(ids)
    return [ids[start : start + 100] for start in range(0, len(ids), 100)]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("period_name", list(PERIODS))
def test_every_summary_matches_oracle(
    batch_rows: Callable[..., list[Row]], rows: list[Review], kind: str, period_name: str
) -> None:
    expected_body, function, _, id_of, _ = KINDS[kind]
    date_from, date_to = PERIODS[period_name]
    for ids in asked_ids(sorted({id_of(r) for r in rows}), seed=len(period_name)):
        expected = as_rows(kind, expected_body(rows, ids, date_from, date_to))
        assert batch_rows(function, ids, date_from, date_to) == expected, ids


@pytest.mark.parametrize(
    ("kind", "ids", "expected"),
    [
        # First appearance decides the place; a repeat is answered once; unknown: no row.
        (
            "products",
            ["SINGLE", "CLOCK", "NO-SUCH-ID", "SINGLE", "ENDS"],
            ["SINGLE", "CLOCK", "ENDS"],
        ),
        ("products", ["ENDS", "ENDS", "ENDS"], ["ENDS"]),
        ("products", ["NO-SUCH-ID", "no-such-id"], []),
        ("products", [], []),
        ("reviewers", ["TIE", "NAMELESS", "TIE", "x", "EVENING"], ["TIE", "NAMELESS", "EVENING"]),
        # Byte-wise: ids differing in case or by a space are other ids.
        ("reviewers", ["tie", "TIE ", "TIE"], ["TIE"]),
        ("products", list(AWKWARD_IDS[::-1]), list(AWKWARD_IDS[::-1])),
    ],
)
def test_order_repeats_and_unknown_ids(
    batch_rows: Callable[..., list[Row]],
    rows: list[Review],
    kind: str,
    ids: list[str],
    expected: list[str],
) -> None:
    expected_body, function, _, _, _ = KINDS[kind]
    got = batch_rows(function, ids, None, None)
    assert [row[0] for row in got] == expected
    assert got == as_rows(kind, expected_body(rows, ids, None, None))


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_id_without_reviews_in_the_period_is_a_row_of_zeros(
    batch_rows: Callable[..., list[Row]], kind: str
) -> None:
    """Like the single summary: the id is known, so it is answered, with nothing in it."""
    _, function, _, _, _ = KINDS[kind]
    (row,) = batch_rows(function, ["CLOCK"], date(2013, 1, 1), date(2013, 12, 31))
    assert row[:13] == ("CLOCK", 0, None, 0, 0, 0, 0, 0, 0, 0, 0, None, None)
    if kind == "reviewers":
        assert row[13] == CSV_AWKWARD_NAME  # over all time, whatever the period


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_row_is_the_single_summary(
    reader: psycopg.Connection[Row], rows: list[Review], kind: str
) -> None:
    """The batch is 0004's summary per id, column for column (the BI contract's figures)."""
    _, function, array, id_of, single = KINDS[kind]
    ids = sorted({id_of(r) for r in rows})[:100]
    batch = reader.execute(
        sql.SQL("SELECT * FROM review_api.{}({} => %s::text[], from_date => '2014-01-01')").format(
            sql.Identifier(function), sql.Identifier(array)
        ),
        (ids,),
    ).fetchall()
    for row in batch:
        alone = reader.execute(
            sql.SQL("SELECT * FROM review_api.{}(%s, from_date => '2014-01-01')").format(
                sql.Identifier(single)
            ),
            (row[0],),
        ).fetchone()
        assert row[1:] == alone


@pytest.mark.parametrize("kind", list(KINDS))
def test_optional_arguments_default_to_all_time(
    reader: psycopg.Connection[Row], rows: list[Review], kind: str
) -> None:
    """A BI user's shortest call: the array alone, written as a literal."""
    expected_body, function, _, _, _ = KINDS[kind]
    statement = sql.SQL("SELECT * FROM review_api.{}(ARRAY['CLOCK', 'ENDS', 'TIE'])").format(
        sql.Identifier(function)
    )
    got = [iso(row) for row in reader.execute(statement)]
    assert got == as_rows(kind, expected_body(rows, ["CLOCK", "ENDS", "TIE"], None, None))


@pytest.mark.parametrize("kind", list(KINDS))
def test_null_array_and_null_ids_have_no_row(reader: psycopg.Connection[Row], kind: str) -> None:
    _, function, array, _, _ = KINDS[kind]
    for value in ("NULL::text[]", "ARRAY[NULL, 'CLOCK', NULL]::text[]"):
        statement = sql.SQL("SELECT {} FROM review_api.{}({} => {})").format(
            sql.Identifier(f"{kind[:-1]}_id"),
            sql.Identifier(function),
            sql.Identifier(array),
            sql.SQL(value),
        )
        got = [row[0] for row in reader.execute(statement)]
        assert got == ([] if value.startswith("NULL") else ["CLOCK"]), value


def test_sqlite_queries_mirror_the_functions(
    reader: psycopg.Connection[Row], sqlite_connection: sqlite3.Connection
) -> None:
    """Same parameters as the functions' arguments, same result columns in the same order
    (the catalog passes the function's arguments by name to the SQLite query)."""
    for _, function, _, _, _ in KINDS.values():
        arguments = reader.execute(
            "SELECT p.proargnames[1:p.pronargs] FROM pg_catalog.pg_proc AS p"
            " WHERE p.oid = to_regprocedure(%s)",
            (f"review_api.{function}(text[], date, date)",),
        ).fetchone()
        query = getattr(SQLITE_QUERIES, function)
        assert arguments is not None and list(query.parameters) == arguments[0], function
        cursor = reader.execute(
            sql.SQL("SELECT * FROM review_api.{}(NULL)").format(sql.Identifier(function))
        )
        postgres_columns = [column.name for column in cursor.description or []]
        sqlite_cursor = sqlite_connection.execute(query.sql, dict.fromkeys(query.parameters))
        assert [column[0] for column in sqlite_cursor.description] == postgres_columns, function


@pytest.mark.parametrize("function", ["product_review_summaries", "reviewer_review_summaries"])
def test_only_readers_may_call_them(reader: psycopg.Connection[Row], function: str) -> None:
    signature = f"review_api.{function}(text[], date, date)"
    for role, allowed in (("public", False), ("reviews_reader", True)):
        ((granted,),) = reader.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
        ).fetchall()
        assert granted is allowed, role


@pytest.mark.parametrize(
    ("query", "column", "index"),
    [
        ("product_review_summaries", "productID", "ix_reviews_product_time"),
        ("reviewer_review_summaries", "reviewerID", "ix_reviews_reviewer_time"),
    ],
)
def test_sqlite_reads_each_id_by_covering_index_searches(
    sqlite_connection: sqlite3.Connection, query: str, column: str, index: str
) -> None:
    """With the development indexes (migrations/sqlite/indexes.sql): per id, the range and
    the existence check, never a scan of the table."""
    statement = getattr(SQLITE_QUERIES, query).sql
    array = KINDS[query.split("_")[0] + "s"][2]
    arguments = {array: '["CLOCK", "ENDS"]', "from_date": None, "to_date": "2016-12-31"}
    plan = [
        row[3] for row in sqlite_connection.execute(f"EXPLAIN QUERY PLAN {statement}", arguments)
    ]
    reads = [
        step for step in plan if step.startswith(("SEARCH r ", "SCAN r", "SEARCH e ", "SCAN e"))
    ]
    assert reads == [
        f"SEARCH r USING COVERING INDEX {index} "
        f"({column}=? AND unixReviewTime>? AND unixReviewTime<?)",
        f"SEARCH e USING COVERING INDEX {index} ({column}=?)",
    ], plan


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


# kind: (the index of the summary's range, every index the plan may read: the existence
# probe may take any index that leads with the id, and the reviewer's name has its own)
PLAN_INDEXES = {
    "products": (
        "reviews_product_date_idx",
        {"reviews_product_date_idx", "reviews_product_recent_idx", "reviews_product_helpful_idx"},
    ),
    "reviewers": (
        "reviews_reviewer_date_idx",
        {"reviews_reviewer_date_idx", "reviews_reviewer_latest_name_idx"},
    ),
}


@pytest.mark.parametrize("kind", list(PLAN_INDEXES))
@pytest.mark.parametrize(
    "bounds", [(None, None), ("2015-01-01", "2016-12-31")], ids=["all-time", "range"]
)
def test_generic_plan_is_inlined_and_index_only(
    loaded_database: ThrowawayDatabase, kind: str, bounds: tuple[str | None, str | None]
) -> None:
    """Under the generic plan a prepared statement switches to: the batch and the summary
    and existence functions it calls are inlined (the only function scan is the array's
    unnest), and every read is an index-only probe per id; the summary's range is on the
    covering date index and holds both date parameters."""
    _, function, _, _, _ = KINDS[kind]
    date_index, allowed = PLAN_INDEXES[kind]
    with psycopg.connect(loaded_database.owner_url) as connection:
        connection.execute("SET enable_seqscan = off")  # a tiny table would tempt the planner
        connection.execute("SET plan_cache_mode = force_generic_plan")
        connection.execute(
            sql.SQL(
                "PREPARE batch(TEXT[], DATE, DATE) AS SELECT * FROM review_api.{}($1, $2, $3)"
            ).format(sql.Identifier(function))
        )
        arguments = [sql.Literal(value) for value in (["CLOCK", "ENDS"], *bounds)]
        explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE batch({}, {}, {})").format(*arguments)
        ((plan,),) = connection.execute(explain).fetchall()
    nodes = list(plan_nodes(plan[0]["Plan"]))
    functions = {node["Function Name"] for node in nodes if node["Node Type"] == "Function Scan"}
    assert functions == {"unnest"}, "a function was not inlined"
    reads = [node for node in nodes if "Relation Name" in node]
    assert {scan["Node Type"] for scan in reads} == {"Index Only Scan"}, nodes
    assert {scan["Index Name"] for scan in reads} <= allowed, reads
    (in_range,) = [scan for scan in reads if "review_date" in scan.get("Index Cond", "")]
    assert in_range["Index Name"] == date_index, in_range
    assert "COALESCE($2, " in in_range["Index Cond"], in_range
    assert "COALESCE(($3 + 1), " in in_range["Index Cond"], in_range
    assert "Filter" not in in_range, in_range
