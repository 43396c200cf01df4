"""The monthly trends at SQL level, on both dialects, against the plain-Python oracle:
review_api.product_monthly_reviews / reviewer_monthly_reviews on a migrated PostgreSQL
database (migrations/postgres/0010.monthly-trends.sql), called by the read-only login as a
BI user would, and the queries of the same names in queries/sqlite/trends.sql on the
original SQLite schema. Every row of every month is compared.

The rows are the suite's test rows plus MONTHS, a product and reviewer whose reviews sit on
the edges of months at the first and last second of a UTC day, with months between them that
have no review."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiosql
import oracle
import psycopg
import pytest
from conftest import run_cli
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import (
    LAST_SECOND,
    MIDNIGHT,
    NOON,
    Review,
    generate_reviews,
    make_review,
    write_sqlite,
)

from service.store.sql_files import queries_dir

MONTHS = "MONTHS"  # the id of the edge-case product, and of the reviewer who wrote them
UNKNOWN = "NO-SUCH-ID"
SQLITE_QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")

Row = tuple[Any, ...]
Body = Callable[[list[Review], str, date | None, date | None], dict[str, Any] | None]
# kind: (the oracle's body, the SQL function and SQLite query, the review's id of that kind)
KINDS: dict[str, tuple[Body, str, Callable[[Review], str]]] = {
    "products": (oracle.product_monthly, "product_monthly_reviews", lambda r: r.productID),
    "reviewers": (oracle.reviewer_monthly, "reviewer_monthly_reviews", lambda r: r.reviewerID),
}


def month_edge_reviews(start: int) -> list[Review]:
    """MONTHS: the last second of January and the first of February 2016 (leap year), the
    29th of February, nothing in March and April, the first and last second of May, nothing
    from June to November, then the last second of 2016 and the first of 2017."""
    times = [
        (date(2016, 1, 31), LAST_SECOND, 5, 1, 1078),
        (date(2016, 2, 1), MIDNIGHT, 1, 0, None),
        (date(2016, 2, 29), NOON, 3, None, 2),
        (date(2016, 5, 1), MIDNIGHT, 4, 1, 0),
        (date(2016, 5, 31), LAST_SECOND, 2, 1, 17),
        (date(2016, 12, 31), LAST_SECOND, 5, 0, None),
        (date(2017, 1, 1), MIDNIGHT, 4, 1, 12345),
    ]
    return [
        make_review(
            start + n,
            product=MONTHS,
            reviewer=MONTHS,
            day=day,
            stars=stars,
            verified=verified,
            votes=votes,
            at=at,
        )
        for n, (day, at, stars, verified, votes) in enumerate(times)
    ]


def month_periods(days: list[date]) -> dict[str, tuple[date | None, date | None]]:
    """Named (from, to) pairs relative to one entity's review days: open ends, ends in the
    middle of months, ends on the first and last day of months, and a range before every
    review (nothing in range)."""
    first, last = min(days), max(days)
    middle = first + (last - first) / 2
    return {
        "all time": (None, None),
        "from only": (middle, None),
        "to only": (None, middle),
        "mid-month ends": (first.replace(day=15), last.replace(day=15)),
        "month ends": (first.replace(day=1), _last_day_of_month(middle)),
        "nothing in range": (date(1900, 1, 1), first - timedelta(days=1)),
    }


def _last_day_of_month(day: date) -> date:
    next_month = (day.replace(day=1) + timedelta(days=31)).replace(day=1)
    return next_month - timedelta(days=1)


def as_rows(body: dict[str, Any] | None) -> list[Row]:
    """The oracle's months as the functions' rows; an unknown id has none at SQL level."""
    if body is None:
        return []
    return [
        (
            month["month"],
            month["review_count"],
            month["average_rating"],
            *(month["rating_distribution"][str(stars)] for stars in range(1, 6)),
            month["verified_review_count"],
            month["helpful_votes"],
        )
        for month in body["months"]
    ]


@pytest.fixture(scope="module")
def rows() -> list[Review]:
    reviews = generate_reviews()
    return reviews + month_edge_reviews(start=len(reviews))


@pytest.fixture(scope="module")
def sqlite_file(rows: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("monthly") / "reviews.sqlite", rows)


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
    entity_id: str,
    date_from: date | None,
    date_to: date | None,
) -> list[Row]:
    """The function called by argument name, as the API's catalog statement calls it."""
    statement = sql.SQL(
        "SELECT * FROM review_api.{}({} => %s, from_date => %s, to_date => %s)"
    ).format(sql.Identifier(function), sql.Identifier(function.split("_")[0] + "_id"))
    return connection.execute(statement, (entity_id, date_from, date_to)).fetchall()


def sqlite_rows(
    connection: sqlite3.Connection,
    query: str,
    entity_id: str,
    date_from: date | None,
    date_to: date | None,
) -> list[Row]:
    """The query of the same name, the dates as ISO text (SQLite has no date type)."""
    arguments = {
        f"{query.split('_')[0]}_id": entity_id,
        "from_date": date_from.isoformat() if date_from else None,
        "to_date": date_to.isoformat() if date_to else None,
    }
    return list(getattr(SQLITE_QUERIES, query)(connection, **arguments))


@pytest.fixture(params=["sqlite", "postgres"])
def monthly_rows(
    request: pytest.FixtureRequest,
) -> Callable[[str, str, date | None, date | None], list[Row]]:
    """(function name, id, from, to) -> the rows of the dialect under test."""
    if request.param == "sqlite":
        connection = request.getfixturevalue("sqlite_connection")
        return lambda name, *arguments: sqlite_rows(connection, name, *arguments)
    postgres = request.getfixturevalue("reader")
    return lambda name, *arguments: postgres_rows(postgres, name, *arguments)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("period_name", list(month_periods([date(2000, 1, 1)])))
def test_every_month_matches_oracle(
    monthly_rows: Callable[..., list[Row]], rows: list[Review], kind: str, period_name: str
) -> None:
    expected_body, function, id_of = KINDS[kind]
    mismatches = []
    for entity_id in sorted({id_of(r) for r in rows}):
        days = [r.day for r in rows if id_of(r) == entity_id]
        date_from, date_to = month_periods(days)[period_name]
        expected = as_rows(expected_body(rows, entity_id, date_from, date_to))
        got = monthly_rows(function, entity_id, date_from, date_to)
        if got != expected:
            mismatches.append((entity_id, date_from, date_to, got, expected))
    assert not mismatches, mismatches[:2]


# (from, to) for MONTHS, and the months expected as (month, review_count): written by hand,
# so that the oracle is checked too.
MONTH_EDGES: dict[str, tuple[date | None, date | None, list[tuple[str, int]]]] = {
    "all time, gaps as zeros": (
        None,
        None,
        [("2016-01", 1), ("2016-02", 2), ("2016-03", 0), ("2016-04", 0), ("2016-05", 2)]
        + [(f"2016-{month:02d}", 0) for month in range(6, 12)]
        + [("2016-12", 1), ("2017-01", 1)],
    ),
    # 23:59:59 on the 31st is January's; 00:00:00 on the 1st is February's.
    "to the last day of a month": (None, date(2016, 1, 31), [("2016-01", 1)]),
    "from the first day of a month": (
        date(2016, 2, 1),
        date(2016, 2, 29),
        [("2016-02", 2)],
    ),
    "one last day": (date(2016, 1, 31), date(2016, 1, 31), [("2016-01", 1)]),
    "one first day": (date(2016, 2, 1), date(2016, 2, 1), [("2016-02", 1)]),
    "mid-month ends, partial months": (
        date(2016, 2, 15),
        date(2016, 5, 15),
        [("2016-02", 1), ("2016-03", 0), ("2016-04", 0), ("2016-05", 1)],
    ),
    "month ends, whole months": (
        date(2016, 2, 1),
        date(2016, 5, 31),
        [("2016-02", 2), ("2016-03", 0), ("2016-04", 0), ("2016-05", 2)],
    ),
    "across the new year": (date(2016, 12, 31), date(2017, 1, 1), [("2016-12", 1), ("2017-01", 1)]),
    "from only, from a gap": (
        date(2016, 3, 1),
        None,
        [("2016-05", 2)]
        + [(f"2016-{month:02d}", 0) for month in range(6, 12)]
        + [("2016-12", 1), ("2017-01", 1)],
    ),
    "only gap months: nothing in range": (date(2016, 3, 1), date(2016, 4, 30), []),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", list(MONTH_EDGES))
def test_month_edges(
    monthly_rows: Callable[..., list[Row]], rows: list[Review], kind: str, case: str
) -> None:
    expected_body, function, _ = KINDS[kind]
    date_from, date_to, months = MONTH_EDGES[case]
    got = monthly_rows(function, MONTHS, date_from, date_to)
    assert [(row[0], row[1]) for row in got] == months
    assert got == as_rows(expected_body(rows, MONTHS, date_from, date_to))
    for row in got:
        if row[1] == 0:  # a month without reviews: zeros and no average
            assert row[2] is None and set(row[3:]) == {0}, row


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_id_has_no_rows(monthly_rows: Callable[..., list[Row]], kind: str) -> None:
    _, function, _ = KINDS[kind]
    assert monthly_rows(function, UNKNOWN, None, None) == []
    assert monthly_rows(function, UNKNOWN, date(2016, 1, 1), date(2016, 12, 31)) == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_optional_arguments_default_to_all_time(
    reader: psycopg.Connection[Row], rows: list[Review], kind: str
) -> None:
    """A BI user's shortest call: the id alone."""
    expected_body, function, _ = KINDS[kind]
    statement = sql.SQL("SELECT * FROM review_api.{}(%s)").format(sql.Identifier(function))
    got = reader.execute(statement, (MONTHS,)).fetchall()
    assert got == as_rows(expected_body(rows, MONTHS, None, None))


@pytest.mark.parametrize("time_zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_months_do_not_depend_on_the_session_time_zone(
    loaded_database: ThrowawayDatabase, rows: list[Review], time_zone: str
) -> None:
    """UTC months, whatever the BI tool's session says (UTC+14 and UTC-8 here)."""
    with psycopg.connect(loaded_database.reader_url, autocommit=True) as connection:
        connection.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(time_zone)))
        for kind, (expected_body, function, _) in KINDS.items():
            got = postgres_rows(connection, function, MONTHS, None, None)
            assert got == as_rows(expected_body(rows, MONTHS, None, None)), kind


def test_sqlite_queries_mirror_the_functions(
    reader: psycopg.Connection[Row], sqlite_connection: sqlite3.Connection
) -> None:
    """Same parameters as the functions' arguments, same result columns in the same order
    (the catalog passes the function's arguments by name to the SQLite query)."""
    for _, function, _ in KINDS.values():
        arguments = reader.execute(
            "SELECT p.proargnames[1:p.pronargs] FROM pg_catalog.pg_proc AS p"
            " WHERE p.oid = to_regprocedure(%s)",
            (f"review_api.{function}(text, date, date)",),
        ).fetchone()
        query = getattr(SQLITE_QUERIES, function)
        assert arguments is not None and list(query.parameters) == arguments[0], function
        cursor = reader.execute(
            sql.SQL("SELECT * FROM review_api.{}(NULL)").format(sql.Identifier(function))
        )
        postgres_columns = [column.name for column in cursor.description or []]
        sqlite_cursor = sqlite_connection.execute(query.sql, dict.fromkeys(query.parameters))
        assert [column[0] for column in sqlite_cursor.description] == postgres_columns, function


@pytest.mark.parametrize("function", ["product_monthly_reviews", "reviewer_monthly_reviews"])
def test_only_readers_may_call_them(reader: psycopg.Connection[Row], function: str) -> None:
    signature = f"review_api.{function}(text, date, date)"
    for role, allowed in (("public", False), ("reviews_reader", True)):
        ((granted,),) = reader.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
        ).fetchall()
        assert granted is allowed, role


@pytest.mark.parametrize(
    ("query", "column", "index"),
    [
        ("product_monthly_reviews", "productID", "ix_reviews_product_time"),
        ("reviewer_monthly_reviews", "reviewerID", "ix_reviews_reviewer_time"),
    ],
)
def test_sqlite_reads_the_reviews_by_one_covering_index_search(
    sqlite_connection: sqlite3.Connection, query: str, column: str, index: str
) -> None:
    """With the development indexes (migrations/sqlite/indexes.sql), as the summaries."""
    statement = getattr(SQLITE_QUERIES, query).sql
    arguments = {column.removesuffix("ID").lower() + "_id": MONTHS, "from_date": None}
    arguments["to_date"] = "2016-12-31"
    plan = [
        row[3] for row in sqlite_connection.execute(f"EXPLAIN QUERY PLAN {statement}", arguments)
    ]
    reads = [step for step in plan if step.startswith(("SEARCH r ", "SCAN r "))]
    assert reads == [
        f"SEARCH r USING COVERING INDEX {index} "
        f"({column}=? AND unixReviewTime>? AND unixReviewTime<?)"
    ], plan


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


# Other indexes whose leading columns are the entity's id and review_date.
DAY_LED = {"reviews_product_date_idx": ("reviews_product_recent_idx",)}


@pytest.mark.parametrize(
    ("function", "index"),
    [
        ("product_monthly_reviews", "reviews_product_date_idx"),
        ("reviewer_monthly_reviews", "reviews_reviewer_date_idx"),
    ],
)
@pytest.mark.parametrize(
    "bounds", [(None, None), ("2015-01-01", "2016-12-31")], ids=["all-time", "range"]
)
def test_generic_plan_is_inlined_and_index_only(
    loaded_database: ThrowawayDatabase,
    function: str,
    index: str,
    bounds: tuple[str | None, str | None],
) -> None:
    """Under the generic plan a prepared statement switches to: the call is inlined (the
    only function scan is generate_series), and the reviews are read by three index-only
    ranges (the first day, the last day, then each month), each condition holding all three
    parameters; nothing sorts or hashes the reviews."""
    with psycopg.connect(loaded_database.owner_url) as connection:
        connection.execute("SET enable_seqscan = off")  # a tiny table would tempt the planner
        connection.execute("SET plan_cache_mode = force_generic_plan")
        connection.execute(
            sql.SQL(
                "PREPARE monthly(TEXT, DATE, DATE) AS SELECT * FROM review_api.{}($1, $2, $3)"
            ).format(sql.Identifier(function))
        )
        arguments = [sql.Literal(value) for value in (MONTHS, *bounds)]
        explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE monthly({}, {}, {})").format(*arguments)
        ((plan,),) = connection.execute(explain).fetchall()
    nodes = list(plan_nodes(plan[0]["Plan"]))
    functions = {node["Function Name"] for node in nodes if node["Node Type"] == "Function Scan"}
    assert functions == {"generate_series"}, "the function was not inlined"
    reads = [node for node in nodes if "Relation Name" in node]  # what reads a table
    # The first and last day may come from any index led by (id, review_date): migration
    # 0011's reviews_product_recent_idx is one; the months are read from `index`.
    assert [scan["Node Type"] for scan in reads] == ["Index Only Scan"] * 3, nodes
    assert reads[-1]["Index Name"] == index, nodes
    assert {scan["Index Name"] for scan in reads} <= {index, *DAY_LED.get(index, ())}, nodes
    for scan in reads:
        assert "Filter" not in scan, scan
        assert all(f"${n}" in scan["Index Cond"] for n in (1, 2, 3)), scan["Index Cond"]
    # The only sort is of the months, by the series' value (ORDER BY month_start).
    sorts = [node for node in nodes if node["Node Type"] in ("Sort", "Incremental Sort")]
    assert [sort["Sort Key"] for sort in sorts] == [["s.month_start"]], sorts
    assert not [
        node for node in nodes if node["Node Type"] == "Aggregate" and node["Strategy"] != "Plain"
    ], nodes


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        # 5 stars, verified, "1,078" votes, at 23:59:59.
        (date(2016, 1, 31), date(2016, 1, 31), ("2016-01", 1, 5.0, 0, 0, 0, 0, 1, 1, 1078)),
        # 1 star, verified 0, no vote, at 00:00:00: zeros, but a real month.
        (date(2016, 2, 1), date(2016, 2, 1), ("2016-02", 1, 1.0, 1, 0, 0, 0, 0, 0, 0)),
        # Both February reviews: 1 and 3 stars, verified 0 and NULL, votes none and 2.
        (date(2016, 2, 1), date(2016, 2, 29), ("2016-02", 2, 2.0, 1, 0, 1, 0, 0, 0, 2)),
    ],
)
def test_whole_rows_written_by_hand(
    monthly_rows: Callable[..., list[Row]], date_from: date, date_to: date, expected: Row
) -> None:
    assert monthly_rows("product_monthly_reviews", MONTHS, date_from, date_to) == [expected]
