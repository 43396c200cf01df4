"""The rankings at SQL level, on both dialects, against the plain-Python oracle:
review_api.top_products / top_reviewers on a migrated PostgreSQL database loaded by
`reviews-api load` (migrations/postgres/0012.rankings.sql), called by the read-only login as
a BI user would, and the queries of the same names in queries/sqlite/rankings.sql on the
original SQLite schema.

Every sort, both orders, every min_reviews, over periods that are calendar years, all time,
whole years, whole months, ranges starting and ending mid-month, one day, and an empty range;
each ranking compared whole, then walked page by page through (after_value, after_id) from
each page's last row: the pages put together must be the oracle's ranking, with no row twice
and none missing.

The rows are the suite's test rows plus TIES (products and reviewers equal on every sort key,
so that only the id orders them), EARLY, LATE and SPREAD (yearly leaders that a range leaves
out, for the threshold pruning) and EDGES (reviews at the first and last second of a year and
of a month)."""

from __future__ import annotations

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

SQLITE_QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")
PAGE = 7  # rows per page when walking a ranking: several pages, and a short last one
ARGUMENTS = [
    "from_date",
    "to_date",
    "sort",
    "sort_order",
    "min_reviews",
    "max_rows",
    "after_value",
    "after_id",
]

Row = tuple[Any, ...]
Ranking = Callable[..., list[dict[str, Any]]]
KINDS: dict[str, tuple[Ranking, str, str]] = {
    "products": (oracle.product_ranking, "top_products", "product_id"),
    "reviewers": (oracle.reviewer_ranking, "top_reviewers", "reviewer_id"),
}

# (from, to): the shapes of period the functions tell apart, and the edges between them.
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "calendar year 2016": (date(2016, 1, 1), date(2016, 12, 31)),
    "calendar year 2015": (date(2015, 1, 1), date(2015, 12, 31)),
    "whole years 2014-2016": (date(2014, 1, 1), date(2016, 12, 31)),
    "whole months": (date(2016, 2, 1), date(2016, 5, 31)),
    "mid-month, about 400 days": (date(2015, 3, 15), date(2016, 4, 17)),
    "a year but one day": (date(2016, 1, 1), date(2016, 12, 30)),
    "a year and one day": (date(2015, 12, 31), date(2016, 12, 31)),
    "from only": (date(2015, 6, 15), None),
    "to only": (None, date(2014, 6, 15)),
    "one day": (date(2016, 10, 30), date(2016, 10, 30)),
    "empty": (date(1900, 1, 1), date(1900, 12, 31)),
}


def tie_reviews(start: int) -> list[Review]:
    """TIE-A to TIE-E: five products, each reviewed twice on one day by its own pair of
    reviewers RTIE-n-1 and RTIE-n-2, with the same stars, verified flags and votes: equal on
    every sort key in every period, so only the id orders them."""
    rows = []
    for n, letter in enumerate("ABCDE"):
        for m in range(2):
            rows.append(
                make_review(
                    start + 2 * n + m,
                    product=f"TIE-{letter}",
                    reviewer=f"RTIE-{m}",
                    day=date(2016, 6, 15),
                    stars=(5, 3)[m],
                    verified=1,
                    votes=(17, None)[m],
                )
            )
    return rows


def edge_reviews(start: int) -> list[Review]:
    """EDGES: the last second of 2015 and the first of 2016, the last second of January 2016
    and the first of February, and the last second of 2016: each period's boundary days."""
    times = [
        (date(2015, 12, 31), LAST_SECOND, 5),
        (date(2016, 1, 1), MIDNIGHT, 1),
        (date(2016, 1, 31), LAST_SECOND, 4),
        (date(2016, 2, 1), MIDNIGHT, 2),
        (date(2016, 12, 31), LAST_SECOND, 3),
        (date(2016, 12, 30), NOON, 5),
    ]
    return [
        make_review(start + n, product="EDGES", reviewer="EDGES", day=day, stars=stars, at=at)
        for n, (day, at, stars) in enumerate(times)
    ]


def pruning_reviews(start: int) -> list[Review]:
    """For the ranges that are not calendar years, where the yearly rollups only bound the
    keys: EARLY and LATE are the most reviewed (and voted) products of 2015 and 2016 with
    every review outside "mid-month, about 400 days"; SPREAD has fewer reviews in each of
    those years than either, all inside that range, so more than either within it."""
    plan = [
        ("EARLY", date(2015, 1, 10), 30),
        ("LATE", date(2016, 12, 1), 30),
        ("SPREAD", date(2015, 12, 30), 12),
        ("SPREAD", date(2016, 1, 2), 12),
    ]
    rows = []
    for product, day, count in plan:
        for _ in range(count):
            rows.append(
                make_review(
                    start + len(rows),
                    product=product,
                    reviewer=f"R{product}",
                    day=day,
                    stars=4,
                    votes=1078,
                )
            )
    return rows


@pytest.fixture(scope="module")
def rows() -> list[Review]:
    reviews = generate_reviews()
    reviews += tie_reviews(start=len(reviews))
    reviews += pruning_reviews(start=len(reviews))
    return reviews + edge_reviews(start=len(reviews))


@pytest.fixture(scope="module")
def sqlite_file(rows: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("rankings") / "reviews.sqlite", rows)


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
    connection: psycopg.Connection[Row], function: str, arguments: dict[str, Any]
) -> list[Row]:
    """The function called by argument name, as the API's catalog statement calls it; dates
    as ISO text, as the SQLite queries give them."""
    statement = sql.SQL("SELECT * FROM review_api.{}({})").format(
        sql.Identifier(function),
        sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in arguments
        ),
    )
    return [
        tuple(value.isoformat() if isinstance(value, date) else value for value in row)
        for row in connection.execute(statement, arguments).fetchall()
    ]


def sqlite_rows(connection: sqlite3.Connection, query: str, arguments: dict[str, Any]) -> list[Row]:
    """The query of the same name, the dates as ISO text (SQLite has no date type)."""
    given = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in arguments.items()
    }
    return list(getattr(SQLITE_QUERIES, query)(connection, **given))


@pytest.fixture(params=["sqlite", "postgres"])
def ranking_rows(request: pytest.FixtureRequest) -> Callable[[str, dict[str, Any]], list[Row]]:
    """(function name, arguments) -> the rows of the dialect under test."""
    if request.param == "sqlite":
        connection = request.getfixturevalue("sqlite_connection")
        return lambda name, arguments: sqlite_rows(connection, name, arguments)
    postgres = request.getfixturevalue("reader")
    return lambda name, arguments: postgres_rows(postgres, name, arguments)


def as_row(entry: dict[str, Any]) -> Row:
    """An oracle entry as the functions' row: the distribution as five columns."""
    values: list[Any] = []
    for field, value in entry.items():
        if field == "rating_distribution":
            values.extend(value[str(stars)] for stars in range(1, 6))
        else:
            values.append(value)
    return tuple(values)


def arguments_of(
    period: str, sort: str, order: str, min_reviews: int, **rest: Any
) -> dict[str, Any]:
    date_from, date_to = PERIODS[period]
    return {
        "from_date": date_from,
        "to_date": date_to,
        "sort": sort,
        "sort_order": order,
        "min_reviews": min_reviews,
        "max_rows": None,
        "after_value": None,
        "after_id": None,
        **rest,
    }


def walk(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]],
    function: str,
    arguments: dict[str, Any],
    id_column: int,
) -> list[Row]:
    """Every page of PAGE rows, each after the previous page's last (sort_value, id)."""
    pages: list[Row] = []
    after: dict[str, Any] = {"after_value": None, "after_id": None}
    for _ in range(1000):
        page = ranking_rows(function, {**arguments, "max_rows": PAGE, **after})
        assert len(page) <= PAGE
        pages.extend(page)
        if len(page) < PAGE:
            return pages
        after = {"after_value": page[-1][-1], "after_id": page[-1][id_column]}
    raise AssertionError("more than 1000 pages")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sort", oracle.RANKING_SORTS)
@pytest.mark.parametrize("period", list(PERIODS))
def test_rankings_match_oracle_whole_and_page_by_page(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]],
    rows: list[Review],
    kind: str,
    sort: str,
    period: str,
) -> None:
    expected_ranking, function, _ = KINDS[kind]
    mismatches = []
    for order in ("desc", "asc"):
        for min_reviews in oracle.MIN_REVIEWS:
            arguments = arguments_of(period, sort, order, min_reviews)
            date_from, date_to = PERIODS[period]
            expected = [
                as_row(entry)
                for entry in expected_ranking(
                    rows, date_from, date_to, sort=sort, order=order, min_reviews=min_reviews
                )
            ]
            whole = ranking_rows(function, {**arguments, "max_rows": None})
            if whole != expected:
                mismatches.append(("whole", order, min_reviews, whole[:3], expected[:3]))
            paged = walk(ranking_rows, function, arguments, 0)
            if paged != expected:
                mismatches.append(("paged", order, min_reviews, len(paged), len(expected)))
    assert not mismatches, mismatches[:2]


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_ties_are_ordered_by_id_in_the_direction_of_the_sort(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]], order: str
) -> None:
    """TIE-A..E are equal on every key on 2016-06-15: only the id orders them, in the sort's
    direction; a page ending inside the tie continues with the next id."""
    arguments = arguments_of("one day", "helpful_votes", order, 1)
    arguments.update(from_date=date(2016, 6, 15), to_date=date(2016, 6, 15))
    whole = ranking_rows("top_products", {**arguments, "max_rows": None})
    ties = [row[0] for row in whole if row[0].startswith("TIE-")]
    assert ties == sorted(ties, reverse=order == "desc") and len(ties) == 5
    page = ranking_rows(
        "top_products", {**arguments, "max_rows": 1, "after_value": 17.0, "after_id": "TIE-C"}
    )
    assert [(row[0], row[-1]) for row in page] == [("TIE-B" if order == "desc" else "TIE-D", 17.0)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_after_value_alone_starts_after_that_value(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]], rows: list[Review], kind: str
) -> None:
    """after_id NULL counts as the empty id: descending, the rows below the value;
    ascending, the rows from the value on; a fractional value of an integer key too."""
    expected_ranking, function, id_field = KINDS[kind]
    for order in ("desc", "asc"):
        for value in (3.0, 3.5, 0.0, 1e300, -1e300):
            arguments = arguments_of("all time", "review_count", order, 1, max_rows=None)
            got = ranking_rows(function, {**arguments, "after_value": value, "after_id": None})
            entries = oracle.after_cursor(
                expected_ranking(rows, sort="review_count", order=order),
                id_field,
                order,
                value,
                None,
            )
            assert got == [as_row(entry) for entry in entries], (order, value)


@pytest.mark.parametrize("sort", ["review_count", "helpful_votes"])
@pytest.mark.parametrize("page", [1, 2, 3])
def test_range_leaders_that_no_year_leads_are_found(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]], sort: str, page: int
) -> None:
    """SPREAD leads "mid-month, about 400 days" although EARLY and LATE lead each of its
    years: whatever the page size, the first page starts with SPREAD."""
    arguments = arguments_of("mid-month, about 400 days", sort, "desc", 1, max_rows=page)
    assert ranking_rows("top_products", arguments)[0][0] == "SPREAD"


@pytest.mark.parametrize("kind", list(KINDS))
def test_null_sort_order_and_min_reviews_are_the_defaults(
    ranking_rows: Callable[[str, dict[str, Any]], list[Row]], rows: list[Review], kind: str
) -> None:
    """A BI user's explicit NULLs (the API always passes values)."""
    expected_ranking, function, _ = KINDS[kind]
    arguments = arguments_of("all time", "review_count", "desc", 1, max_rows=None)
    arguments.update(sort=None, sort_order=None, min_reviews=None)
    assert ranking_rows(function, arguments) == [as_row(e) for e in expected_ranking(rows)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_defaults_are_the_first_page_by_review_count(
    reader: psycopg.Connection[Row], rows: list[Review], kind: str
) -> None:
    """A BI user's shortest call: no argument at all, the 20 most reviewed of all time."""
    expected_ranking, function, _ = KINDS[kind]
    statement = sql.SQL("SELECT * FROM review_api.{}()").format(sql.Identifier(function))
    got = [
        tuple(value.isoformat() if isinstance(value, date) else value for value in row)
        for row in reader.execute(statement).fetchall()
    ]
    assert got == [as_row(entry) for entry in expected_ranking(rows)[:20]]


def test_sqlite_queries_mirror_the_functions(
    reader: psycopg.Connection[Row], sqlite_connection: sqlite3.Connection
) -> None:
    """Same parameters as the functions' arguments, same result columns in the same order
    (the catalog passes the function's arguments by name to the SQLite query)."""
    for _, function, _ in KINDS.values():
        ((arguments,),) = reader.execute(
            "SELECT p.proargnames[1:p.pronargs] FROM pg_catalog.pg_proc AS p"
            " WHERE p.oid = %s::regproc",
            (f"review_api.{function}",),
        ).fetchall()
        assert arguments == ARGUMENTS
        query = getattr(SQLITE_QUERIES, function)
        assert list(query.parameters) == arguments, function
        cursor = reader.execute(
            sql.SQL("SELECT * FROM review_api.{}()").format(sql.Identifier(function))
        )
        postgres_columns = [column.name for column in cursor.description or []]
        sqlite_cursor = sqlite_connection.execute(
            query.sql, {**dict.fromkeys(query.parameters), "min_reviews": 1}
        )
        assert [column[0] for column in sqlite_cursor.description] == postgres_columns, function


@pytest.mark.parametrize("function", ["top_products", "top_reviewers"])
def test_only_readers_may_call_them(reader: psycopg.Connection[Row], function: str) -> None:
    ((signature,),) = reader.execute(
        "SELECT %s::regproc::oid::regprocedure::text", (f"review_api.{function}",)
    ).fetchall()
    for role, allowed in (("public", False), ("reviews_reader", True)):
        ((granted,),) = reader.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
        ).fetchall()
        assert granted is allowed, role
