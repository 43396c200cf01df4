"""The review lists at SQL level, on both dialects, against the plain-Python oracle:
review_api.product_reviews / reviewer_reviews on a migrated PostgreSQL database
(migrations/postgres/0011.batches-reviews-dataset.sql), called by the read-only login as a
BI user would, and the queries of the same names in queries/sqlite/reviews.sql on the
original SQLite schema.

Every list of every id is walked page by page as the API's cursor does (after_value and
after_index from the last row of the previous page): the pages put together are the
oracle's whole order, with no review twice and none missing. The rows are the suite's test
rows plus TIES, a product and reviewer whose reviews share their second and their votes,
so that only the review id orders them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, time
from pathlib import Path
from typing import Any

import aiosql
import oracle
import psycopg
import pytest
from conftest import run_cli
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import NOON, Review, generate_reviews, make_review, write_sqlite

from service.store.sql_files import queries_dir

TIES = "TIES"  # the id of the tied product, and of the reviewer who wrote its reviews
UNKNOWN = "NO-SUCH-ID"
SORTS = ["recent", "helpful"]
SQLITE_QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")
SIGNATURE = "(text, date, date, review_api.review_sort, integer, bigint, bigint)"

Row = tuple[Any, ...]
Items = Callable[[list[Review], str, date | None, date | None, str], list[dict[str, Any]] | None]
# kind: (the oracle's items, the SQL function and SQLite query, the review's id of that kind)
KINDS: dict[str, tuple[Items, str, Callable[[Review], str]]] = {
    "products": (oracle.product_reviews, "product_reviews", lambda r: r.productID),
    "reviewers": (oracle.reviewer_reviews, "reviewer_reviews", lambda r: r.reviewerID),
}
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "five years": (date(2012, 1, 1), date(2016, 12, 31)),
    "from only": (date(2015, 6, 15), None),
    "one day": (date(2016, 10, 30), date(2016, 10, 30)),
    "nothing in range": (date(1900, 1, 1), date(1999, 12, 31)),
}


def tied_reviews(start: int) -> list[Review]:
    """TIES: seven reviews at the same second with the same votes, then three at other
    times of the same day with those votes too, and two without votes; ids not in time
    order, so that neither order is the insertion order."""
    day = date(2017, 5, 4)
    times = [NOON] * 7 + [time(0, 0, 0), time(23, 59, 59), time(6, 0, 0), NOON, NOON]
    votes = [5] * 10 + [None, 0]
    order = [3, 11, 0, 7, 5, 1, 9, 2, 10, 4, 8, 6]
    return [
        make_review(
            start + order[n],
            product=TIES,
            reviewer=TIES,
            day=day,
            stars=n % 5 + 1,
            votes=votes[n],
            at=times[n],
        )
        for n in range(12)
    ]


def as_rows(reviews: list[Review], items: list[dict[str, Any]] | None, sort: str) -> list[Row]:
    """The oracle's items as the functions' rows, with the hidden sort_value last; an
    unknown id has none at SQL level."""
    by_index = {review.index: review for review in reviews}
    return [
        (*item.values(), oracle.review_sort_value(by_index[item["review_index"]], sort))
        for item in items or []
    ]


@pytest.fixture(scope="module")
def rows() -> list[Review]:
    reviews = generate_reviews()
    return reviews + tied_reviews(start=len(reviews))


@pytest.fixture(scope="module")
def sqlite_file(rows: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("reviews") / "reviews.sqlite", rows)


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


def postgres_rows(connection: psycopg.Connection[Row], function: str, *arguments: Any) -> list[Row]:
    """The function called by argument name, as the API's catalog statement calls it; dates
    as ISO text, as SQLite answers them."""
    statement = sql.SQL(
        "SELECT * FROM review_api.{}({} => %s, from_date => %s, to_date => %s,"
        " sort => %s::review_api.review_sort, max_rows => %s, after_value => %s,"
        " after_index => %s)"
    ).format(sql.Identifier(function), sql.Identifier(function.split("_")[0] + "_id"))
    return [
        tuple(value.isoformat() if isinstance(value, date) else value for value in row)
        for row in connection.execute(statement, arguments)
    ]


def sqlite_rows(connection: sqlite3.Connection, query: str, *arguments: Any) -> list[Row]:
    """The query of the same name, the dates as ISO text (SQLite has no date type)."""
    names = [f"{query.split('_')[0]}_id", "from_date", "to_date", "sort", "max_rows"]
    names += ["after_value", "after_index"]
    values = [value.isoformat() if isinstance(value, date) else value for value in arguments]
    return list(getattr(SQLITE_QUERIES, query)(connection, **dict(zip(names, values, strict=True))))


Page = Callable[..., list[Row]]


@pytest.fixture(params=["sqlite", "postgres"])
def page(request: pytest.FixtureRequest) -> Page:
    """(function, id, from, to, sort, max_rows, after_value, after_index) -> the rows of
    the dialect under test."""
    if request.param == "sqlite":
        connection = request.getfixturevalue("sqlite_connection")
        return lambda name, *arguments: sqlite_rows(connection, name, *arguments)
    postgres = request.getfixturevalue("reader")
    return lambda name, *arguments: postgres_rows(postgres, name, *arguments)


def walk(
    page: Page,
    function: str,
    entity_id: str,
    bounds: tuple[date | None, date | None],
    sort: str,
    max_rows: int,
) -> list[list[Row]]:
    """Every page, each after the last row of the previous one, as the API's cursor goes."""
    pages: list[list[Row]] = []
    after: tuple[int | None, int | None] = (None, None)
    while True:
        rows = page(function, entity_id, *bounds, sort, max_rows, *after)
        assert len(rows) <= max_rows
        if rows:
            pages.append(rows)
        if len(rows) < max_rows:
            return pages
        after = (rows[-1][-1], rows[-1][0])  # its sort_value and review_index
        assert len(pages) <= 1000, "the pages do not end"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("period_name", list(PERIODS))
def test_every_page_of_every_list_matches_oracle(
    page: Page, rows: list[Review], kind: str, sort: str, period_name: str
) -> None:
    expected_items, function, id_of = KINDS[kind]
    bounds = PERIODS[period_name]
    mismatches = []
    for entity_id in sorted({id_of(r) for r in rows}):
        pages = walk(page, function, entity_id, bounds, sort, max_rows=3)
        got = [row for rows_of_page in pages for row in rows_of_page]
        expected = as_rows(rows, expected_items(rows, entity_id, *bounds, sort), sort)
        if got != expected:
            mismatches.append((entity_id, got, expected))
    assert not mismatches, mismatches[:1]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sort", SORTS)
def test_one_review_per_page_through_the_ties(
    page: Page, rows: list[Review], kind: str, sort: str
) -> None:
    """Every review of TIES is a cursor once: ties in time and votes are ordered by id."""
    expected_items, function, _ = KINDS[kind]
    pages = walk(page, function, TIES, (None, None), sort, max_rows=1)
    got = [row for rows_of_page in pages for row in rows_of_page]
    assert got == as_rows(rows, expected_items(rows, TIES, None, None, sort), sort)
    assert len({row[0] for row in got}) == len(got) == 12
    if sort == "helpful":  # ten reviews with 5 votes, highest id first, then the 0s
        assert [row[-1] for row in got] == [5] * 10 + [0, 0]
        assert [row[0] for row in got[:10]] == sorted((row[0] for row in got[:10]), reverse=True)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sort", SORTS)
def test_no_page_size_is_every_review(page: Page, rows: list[Review], kind: str, sort: str) -> None:
    """A BI user may pass max_rows NULL: the whole list in order."""
    expected_items, function, _ = KINDS[kind]
    got = page(function, TIES, None, None, sort, None, None, None)
    assert got == as_rows(rows, expected_items(rows, TIES, None, None, sort), sort)


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_id_has_no_rows(page: Page, kind: str) -> None:
    _, function, _ = KINDS[kind]
    for sort in SORTS:
        assert page(function, UNKNOWN, None, None, sort, 20, None, None) == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_optional_arguments_default_to_the_first_twenty_newest(
    reader: psycopg.Connection[Row], rows: list[Review], kind: str
) -> None:
    """A BI user's shortest call: the id alone."""
    expected_items, function, id_of = KINDS[kind]
    busiest = max({id_of(r) for r in rows}, key=lambda i: sum(id_of(r) == i for r in rows))
    statement = sql.SQL("SELECT * FROM review_api.{}(%s)").format(sql.Identifier(function))
    got = [
        tuple(value.isoformat() if isinstance(value, date) else value for value in row)
        for row in reader.execute(statement, (busiest,))
    ]
    expected = as_rows(rows, expected_items(rows, busiest, None, None, "recent"), "recent")
    assert len(expected) > 20
    assert got == expected[:20]


def test_sqlite_queries_mirror_the_functions(
    reader: psycopg.Connection[Row], sqlite_connection: sqlite3.Connection
) -> None:
    """Same parameters as the functions' arguments, same result columns in the same order
    (the catalog passes the function's arguments by name to the SQLite query)."""
    for _, function, _ in KINDS.values():
        arguments = reader.execute(
            "SELECT p.proargnames[1:p.pronargs] FROM pg_catalog.pg_proc AS p"
            " WHERE p.oid = to_regprocedure(%s)",
            (f"review_api.{function}{SIGNATURE}",),
        ).fetchone()
        query = getattr(SQLITE_QUERIES, function)
        assert arguments is not None and list(query.parameters) == arguments[0], function
        cursor = reader.execute(
            sql.SQL("SELECT * FROM review_api.{}(NULL)").format(sql.Identifier(function))
        )
        postgres_columns = [column.name for column in cursor.description or []]
        sqlite_cursor = sqlite_connection.execute(query.sql, dict.fromkeys(query.parameters))
        assert [column[0] for column in sqlite_cursor.description] == postgres_columns, function


@pytest.mark.parametrize("function", ["product_reviews", "reviewer_reviews"])
def test_only_readers_may_call_them(reader: psycopg.Connection[Row], function: str) -> None:
    signature = f"review_api.{function}{SIGNATURE}"
    for role, allowed in (("public", False), ("reviews_reader", True)):
        ((granted,),) = reader.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
        ).fetchall()
        assert granted is allowed, role


def test_the_orders_are_the_enum_labels(reader: psycopg.Connection[Row]) -> None:
    """The API's `sort` values come from the type, in this order."""
    ((labels,),) = reader.execute(
        "SELECT enum_range(NULL::review_api.review_sort)::text[]"
    ).fetchall()
    assert labels == SORTS


@pytest.mark.parametrize(
    ("query", "column", "index"),
    [
        ("product_reviews", "productID", "ix_reviews_product_time"),
        ("reviewer_reviews", "reviewerID", "ix_reviews_reviewer_time"),
    ],
)
def test_sqlite_reads_one_index_range(
    sqlite_connection: sqlite3.Connection, query: str, column: str, index: str
) -> None:
    """With the development indexes (migrations/sqlite/indexes.sql): the entity's range in
    the period, then the sort; never a scan of the table."""
    statement = getattr(SQLITE_QUERIES, query).sql
    arguments = dict.fromkeys(getattr(SQLITE_QUERIES, query).parameters)
    arguments |= {f"{column.removesuffix('ID').lower()}_id": TIES, "sort": "helpful"}
    plan = [
        row[3] for row in sqlite_connection.execute(f"EXPLAIN QUERY PLAN {statement}", arguments)
    ]
    reads = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert reads == [
        f"SEARCH r USING INDEX {index} ({column}=? AND unixReviewTime>? AND unixReviewTime<?)"
    ], plan


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def generic_plan(
    owner_url: str, function: str, arguments: tuple[Any, ...], analyze: bool = False
) -> list[dict[str, Any]]:
    """The plan of the generic plan a prepared statement switches to."""
    with psycopg.connect(owner_url) as connection:
        connection.execute("SET enable_seqscan = off")  # a tiny table would tempt the planner
        connection.execute("SET plan_cache_mode = force_generic_plan")
        connection.execute(
            sql.SQL(
                "PREPARE page(TEXT, DATE, DATE, review_api.review_sort, INTEGER, BIGINT, BIGINT)"
                " AS SELECT * FROM review_api.{}($1, $2, $3, $4, $5, $6, $7)"
            ).format(sql.Identifier(function))
        )
        options = sql.SQL("ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON")
        explain = sql.SQL("EXPLAIN ({}) EXECUTE page({})").format(
            options, sql.SQL(", ").join(sql.Literal(value) for value in arguments)
        )
        ((plan,),) = connection.execute(explain).fetchall()
    return list(plan_nodes(plan[0]["Plan"]))


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize(
    "arguments",
    [(None, None, 20, None, None), ("2015-01-01", "2016-12-31", 3, 1462320000, 123)],
    ids=["first page", "later page in a period"],
)
def test_product_pages_read_their_own_index_in_order(
    loaded_database: ThrowawayDatabase, sort: str, arguments: tuple[Any, ...]
) -> None:
    """Under the generic plan, with the cursor's values as parameters: each order is one
    backward range of its own index from the cursor (the id and the cursor in its `Index
    Cond`; the period too for `recent`, and as a filter of the index entries for
    `helpful`, whose page is then fetched by primary key), in the index's order, so
    nothing sorts the product's reviews: the one sort is of the page, for the union of the
    two branches."""
    nodes = generic_plan(
        loaded_database.owner_url, "product_reviews", (TIES, *arguments[:2], sort, *arguments[2:])
    )
    assert not [node for node in nodes if node["Node Type"] == "Function Scan"], "not inlined"
    reads = {
        node["Index Name"]: node for node in nodes if "Relation Name" in node
    }  # what reads the table or an index of it
    assert {name: (node["Node Type"], node["Scan Direction"]) for name, node in reads.items()} == {
        "reviews_product_recent_idx": ("Index Scan", "Backward"),
        "reviews_product_helpful_idx": ("Index Only Scan", "Backward"),
        "reviews_pkey": ("Index Scan", "Forward"),
    }, nodes
    recent = reads["reviews_product_recent_idx"]["Index Cond"]
    assert all(f"${n}" in recent for n in (1, 2, 3, 6, 7)), recent
    assert 'ROW(review_date, "unixReviewTime", index) < ROW(' in recent, recent
    assert "Filter" not in reads["reviews_product_recent_idx"]
    helpful = reads["reviews_product_helpful_idx"]
    assert all(f"${n}" in helpful["Index Cond"] for n in (1, 6, 7)), helpful
    assert "ROW(helpful_votes, index) < ROW(" in helpful["Index Cond"], helpful
    assert all(f"${n}" in helpful["Filter"] for n in (2, 3)), helpful
    # The one sort: the page (the union of the two branches' pages), not the reviews.
    sorts = [node for node in nodes if node["Node Type"] in ("Sort", "Incremental Sort")]
    assert [[child["Node Type"] for child in node["Plans"]] for node in sorts] == [["Append"]]


@pytest.mark.parametrize("sort", SORTS)
def test_the_other_order_is_never_read(loaded_database: ThrowawayDatabase, sort: str) -> None:
    """The branch of the other order is behind a one-time filter on `sort`: it never runs."""
    nodes = generic_plan(
        loaded_database.owner_url,
        "product_reviews",
        (TIES, None, None, sort, 20, None, None),
        analyze=True,
    )
    by_index = {node["Index Name"]: node["Actual Loops"] for node in nodes if "Index Name" in node}
    ran = {"recent": "reviews_product_recent_idx", "helpful": "reviews_product_helpful_idx"}
    for other, index in ran.items():
        assert (by_index[index] > 0) is (other == sort), by_index


@pytest.mark.parametrize("sort", SORTS)
def test_reviewer_pages_read_one_range_of_the_date_index(
    loaded_database: ThrowawayDatabase, sort: str
) -> None:
    """A reviewer's range of reviews_reviewer_date_idx, then a sort of it (a few hundred
    reviews at most); no other read."""
    nodes = generic_plan(
        loaded_database.owner_url,
        "reviewer_reviews",
        (TIES, "2015-01-01", None, sort, 3, 1462320000, 123),
    )
    assert not [node for node in nodes if node["Node Type"] == "Function Scan"]
    reads = [node for node in nodes if "Relation Name" in node]
    assert [node["Index Name"] for node in reads] == ["reviews_reviewer_date_idx"], reads
    assert all(f"${n}" in reads[0]["Index Cond"] for n in (1, 2, 3)), reads[0]


def test_a_load_rebuilds_the_indexes_of_the_product_pages(
    loaded_database: ThrowawayDatabase,
) -> None:
    """The migration built them on the empty table; `reviews-api load` (the fixture's)
    published a new table with every index of the old one rebuilt: these too, with their
    definitions and comments, and valid."""
    with psycopg.connect(loaded_database.owner_url) as connection:
        ((loads,),) = connection.execute("SELECT count(*) FROM public.data_loads").fetchall()
        indexes = connection.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid), obj_description(c.oid, 'pg_class'),"
            " x.indisvalid"
            " FROM pg_index AS x JOIN pg_class AS c ON c.oid = x.indexrelid"
            " WHERE x.indrelid = 'public.reviews'::regclass AND c.relname LIKE %s"
            " ORDER BY 1",
            ("reviews_product_%_idx",),
        ).fetchall()
    assert loads == 1
    pages = {name: (definition, comment, valid) for name, definition, comment, valid in indexes}
    assert pages["reviews_product_recent_idx"] == (
        "CREATE INDEX reviews_product_recent_idx ON public.reviews"
        ' USING btree ("productID", review_date, "unixReviewTime", index)',
        "review_api.product_reviews, sort recent: a page is one backward range from the cursor.",
        True,
    )
    assert pages["reviews_product_helpful_idx"] == (
        "CREATE INDEX reviews_product_helpful_idx ON public.reviews"
        ' USING btree ("productID", helpful_votes, index) INCLUDE (review_date)',
        "review_api.product_reviews, sort helpful: a page is one backward range from the cursor.",
        True,
    )
