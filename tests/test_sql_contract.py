"""queries/sqlite and queries/postgres are one contract: the same query names, parameters
and result columns; and the PostgreSQL functions behave as documented for BI users."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosql
import psycopg
import pytest
from postgres_server import ThrowawayDatabase

from service.sql_files import queries_dir

DIALECTS = {"sqlite": "sqlite3", "postgres": "psycopg"}
# SQLite queries whose PostgreSQL side is the review_api function of the same name, which
# the API calls through its catalog (docs/api-catalog.md) rather than queries/postgres;
# tests/test_monthly_trends.py holds each to its function.
FUNCTION_MIRRORS = {"product_monthly_reviews", "reviewer_monthly_reviews"}


def query_set(dialect: str) -> dict[str, object]:
    queries = aiosql.from_path(queries_dir(dialect), DIALECTS[dialect])
    return {name: getattr(queries, name) for name in queries.available_queries}


def mirrors_a_function(name: str) -> bool:
    # aiosql adds a <name>_cursor query for each query returning rows.
    return name.removesuffix("_cursor") in FUNCTION_MIRRORS


def test_both_dialects_declare_the_same_queries_and_parameters() -> None:
    sqlite_queries, postgres_queries = query_set("sqlite"), query_set("postgres")
    assert set(sqlite_queries) >= FUNCTION_MIRRORS
    assert sorted(n for n in sqlite_queries if not mirrors_a_function(n)) == sorted(
        postgres_queries
    )
    for name, query in postgres_queries.items():
        assert query.parameters == sqlite_queries[name].parameters, name  # type: ignore[attr-defined]


def result_columns_sqlite(path: Path, name: str, query: object) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        arguments = dict.fromkeys(query.parameters)  # type: ignore[attr-defined]
        cursor = connection.execute(query.sql, arguments)  # type: ignore[attr-defined]
        return [column[0] for column in cursor.description]
    finally:
        connection.close()


def result_columns_postgres(url: str, name: str, query: object) -> list[str]:
    # aiosql's psycopg adapter speaks %(name)s; describe the statement without running it.
    with psycopg.connect(url) as connection:
        cursor = connection.cursor()
        arguments = dict.fromkeys(query.parameters)  # type: ignore[attr-defined]
        cursor.execute(query.sql, arguments)  # type: ignore[attr-defined]
        return [column.name for column in cursor.description or []]


def test_both_dialects_return_the_same_columns(
    sqlite_url: str, api_database: ThrowawayDatabase
) -> None:
    sqlite_path = Path(sqlite_url.removeprefix("sqlite:///"))
    postgres_queries = query_set("postgres")
    for name, query in query_set("sqlite").items():
        if mirrors_a_function(name):
            continue
        expected = result_columns_sqlite(sqlite_path, name, query)
        assert (
            result_columns_postgres(api_database.reader_url, name, postgres_queries[name])
            == expected
        ), name


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM review_api.product_review_summary('none')",
        "SELECT * FROM review_api.product_review_summary('none', '2015-01-01', '2014-01-01')",
        "SELECT * FROM review_api.reviewer_review_summary('none', from_date => '2015-01-01')",
    ],
)
def test_functions_return_exactly_one_row_for_unknown_ids_and_empty_ranges(
    api_database: ThrowawayDatabase, statement: str
) -> None:
    with psycopg.connect(api_database.reader_url) as connection:
        rows = connection.execute(statement).fetchall()
    assert len(rows) == 1
    assert rows[0][0] == 0  # review_count


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT count(*) FROM public.reviews",
        'INSERT INTO public.reviews ("index") VALUES (-1)',
        "DELETE FROM public.data_loads",
        "CREATE TABLE review_api.scratch (x int)",
        "CALL review_admin.create_staging_table()",
    ],
)
def test_the_reader_login_can_only_read_the_contract(
    api_database: ThrowawayDatabase, statement: str
) -> None:
    with (
        psycopg.connect(api_database.reader_url) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute(statement)


def test_every_contract_object_is_commented(api_database: ThrowawayDatabase) -> None:
    """BI users read the catalog: every function, view and view column says what it is."""
    with psycopg.connect(api_database.owner_url) as connection:
        uncommented = connection.execute(
            """
            SELECT c.relname || coalesce('.' || a.attname, '')
            FROM pg_class AS c
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
            WHERE n.nspname = 'review_api'
              AND c.relkind = 'v'
              AND col_description(c.oid, coalesce(a.attnum, 0)) IS NULL
              AND (a.attnum IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)
            UNION ALL
            SELECT p.proname
            FROM pg_proc AS p
            JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname IN ('review_api', 'review_admin')
              AND obj_description(p.oid, 'pg_proc') IS NULL
            """
        ).fetchall()
    assert uncommented == []
