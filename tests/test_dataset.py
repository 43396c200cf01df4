"""The dataset summary at SQL level, on both dialects, against the plain-Python oracle:
review_api.dataset_summary on a migrated PostgreSQL database
(migrations/postgres/0011.batches-reviews-dataset.sql), called by the read-only login as a
BI user would, and the query of the same name in queries/sqlite/dataset.sql on the original
SQLite schema. The data version and load time are not in the rows: on PostgreSQL they are
the live load's (review_api.data_loads), on SQLite the stand-in of lookups.sql."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, date
from pathlib import Path
from typing import Any

import aiosql
import oracle
import psycopg
import pytest
from conftest import run_cli
from postgres_server import ThrowawayDatabase
from psycopg import sql
from review_rows import Review, generate_reviews, write_sqlite

from service.store.sql_files import queries_dir

SQLITE_QUERIES = aiosql.from_path(queries_dir("sqlite"), "sqlite3")

Row = tuple[Any, ...]


def as_row(body: dict[str, Any]) -> Row:
    """The oracle's body as the function's row."""
    return (
        body["review_count"],
        body["product_count"],
        body["reviewer_count"],
        body["first_review_date"],
        body["last_review_date"],
        *(body["rating_distribution"][str(stars)] for stars in range(1, 6)),
        body["data_version"],
        body["loaded_at"],
    )


def iso(row: Row) -> Row:
    return tuple(value.isoformat() if isinstance(value, date) else value for value in row)


@pytest.fixture(scope="module")
def rows() -> list[Review]:
    return generate_reviews()


@pytest.fixture(scope="module")
def sqlite_file(rows: list[Review], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sqlite(tmp_path_factory.mktemp("dataset") / "reviews.sqlite", rows)


@pytest.fixture(scope="module")
def loaded_database(
    make_module_database: ThrowawayDatabase, sqlite_file: Path
) -> ThrowawayDatabase:
    """The rows imported by `reviews-api load` twice: the live load is the second."""
    for _ in range(2):
        run_cli(
            "load", "--source", str(sqlite_file), "--database-url", make_module_database.owner_url
        )
    return make_module_database


@pytest.fixture(scope="module")
def reader(loaded_database: ThrowawayDatabase) -> Iterator[psycopg.Connection[Row]]:
    """The read-only login (member of reviews_reader): the function's grant is tested too."""
    with psycopg.connect(loaded_database.reader_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def sqlite_connection(sqlite_file: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"{sqlite_file.as_uri()}?mode=ro", uri=True)) as connection:
        yield connection


def live_load(connection: psycopg.Connection[Row]) -> tuple[str, str]:
    """The live load's id and when it went live, as the API says it: ISO 8601 in UTC, to
    the second."""
    row = connection.execute(
        "SELECT load_id, finished_at FROM review_api.data_loads ORDER BY load_id DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return str(row[0]), row[1].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_postgres_matches_oracle(reader: psycopg.Connection[Row], rows: list[Review]) -> None:
    version, loaded_at = live_load(reader)
    assert version == "2"
    got = reader.execute("SELECT * FROM review_api.dataset_summary()").fetchall()
    assert [iso(row) for row in got] == [as_row(oracle.dataset_summary(rows, version, loaded_at))]


def test_sqlite_matches_oracle(sqlite_connection: sqlite3.Connection, rows: list[Review]) -> None:
    """The development file's version: its row count and highest row number."""
    version = f"sqlite-{len(rows)}-{max(r.index for r in rows)}"
    got = SQLITE_QUERIES.dataset_summary(sqlite_connection)
    assert got == as_row(oracle.dataset_summary(rows, version, None))


@pytest.mark.parametrize("time_zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_load_time_does_not_depend_on_the_session_time_zone(
    loaded_database: ThrowawayDatabase, reader: psycopg.Connection[Row], time_zone: str
) -> None:
    """UTC, whatever the BI tool's session says (UTC+14 and UTC-8 here)."""
    _, loaded_at = live_load(reader)
    with psycopg.connect(loaded_database.reader_url, autocommit=True) as connection:
        connection.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(time_zone)))
        ((got,),) = connection.execute("SELECT loaded_at FROM review_api.dataset_summary()")
    assert got == loaded_at


def test_before_any_load_it_is_empty_and_version_0(
    make_database: Callable[[], ThrowawayDatabase],
) -> None:
    """A migrated database nobody loaded: one row all the same, as current_load says."""
    database = make_database()
    with psycopg.connect(database.reader_url) as connection:
        got = connection.execute("SELECT * FROM review_api.dataset_summary()").fetchall()
    assert got == [(0, 0, 0, None, None, 0, 0, 0, 0, 0, "0", None)]


def test_an_empty_sqlite_file(tmp_path: Path) -> None:
    path = write_sqlite(tmp_path / "empty.sqlite", [])
    with closing(sqlite3.connect(path)) as connection:
        got = SQLITE_QUERIES.dataset_summary(connection)
    assert got == (0, 0, 0, None, None, 0, 0, 0, 0, 0, "sqlite-0--1", None)


def test_sqlite_query_mirrors_the_function(
    reader: psycopg.Connection[Row], sqlite_connection: sqlite3.Connection
) -> None:
    """No parameters, the same result columns in the same order."""
    assert list(SQLITE_QUERIES.dataset_summary.parameters) == []
    cursor = reader.execute("SELECT * FROM review_api.dataset_summary()")
    postgres_columns = [column.name for column in cursor.description or []]
    sqlite_cursor = sqlite_connection.execute(SQLITE_QUERIES.dataset_summary.sql)
    assert [column[0] for column in sqlite_cursor.description] == postgres_columns


def test_only_readers_may_call_it(reader: psycopg.Connection[Row]) -> None:
    for role, allowed in (("public", False), ("reviews_reader", True)):
        ((granted,),) = reader.execute(
            "SELECT has_function_privilege(%s, 'review_api.dataset_summary()', 'EXECUTE')",
            (role,),
        ).fetchall()
        assert granted is allowed, role


def test_it_is_inlined(loaded_database: ThrowawayDatabase) -> None:
    """No function scan: the planner sees the aggregates (and may run them in parallel)."""
    with psycopg.connect(loaded_database.owner_url) as connection:
        plan = "\n".join(
            row[0]
            for row in connection.execute("EXPLAIN SELECT * FROM review_api.dataset_summary()")
        )
    assert "Function Scan" not in plan, plan
