"""The API catalog, queries/sqlite and queries/postgres are one contract: every catalogued
function has a SQLite twin of its name with its arguments and result columns, the lookups
are the same in both dialects, and the PostgreSQL functions behave as documented for BI
users."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import aiosql
import psycopg
import pytest
from postgres_server import ThrowawayDatabase

from service.catalog import load_catalog
from service.catalog.model import Endpoint
from service.store.sql_files import queries_dir

DIALECTS = {"sqlite": "sqlite3", "postgres": "psycopg"}
CATALOG = load_catalog()


def query_set(dialect: str) -> dict[str, object]:
    queries = aiosql.from_path(queries_dir(dialect), DIALECTS[dialect])
    return {name: getattr(queries, name) for name in queries.available_queries}


def test_both_dialects_declare_the_same_lookups() -> None:
    """The service's own queries (readiness, data version): the same names and parameters."""
    sqlite_queries, postgres_queries = query_set("sqlite"), query_set("postgres")
    assert set(postgres_queries) <= set(sqlite_queries)
    for name, query in postgres_queries.items():
        assert query.parameters == sqlite_queries[name].parameters, name  # type: ignore[attr-defined]


@pytest.mark.parametrize("endpoint", CATALOG.endpoints, ids=lambda e: e.name)
def test_every_catalog_entry_has_its_sqlite_twin(endpoint: Endpoint) -> None:
    """A query of the function's name taking its arguments, and the existence check."""
    sqlite_queries = query_set("sqlite")
    assert endpoint.name in sqlite_queries, f"no query {endpoint.name} in queries/sqlite/"
    parameters = sqlite_queries[endpoint.name].parameters  # type: ignore[attr-defined]
    assert list(parameters) == [argument.name for argument in endpoint.arguments]
    if endpoint.exists_name:
        exists = sqlite_queries[endpoint.exists_name]
        assert list(exists.parameters) == [endpoint.path_arguments[0].name]  # type: ignore[attr-defined]


def result_columns_sqlite(path: Path, query: object) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        arguments = dict.fromkeys(query.parameters)  # type: ignore[attr-defined]
        cursor = connection.execute(query.sql, arguments)  # type: ignore[attr-defined]
        return [column[0] for column in cursor.description]
    finally:
        connection.close()


def result_columns_postgres(url: str, sql: str, arguments: object) -> list[str]:
    with psycopg.connect(url) as connection:
        cursor = connection.cursor()
        cursor.execute(sql, arguments)  # type: ignore[arg-type]
        return [column.name for column in cursor.description or []]


def test_both_dialects_return_the_same_columns(
    sqlite_url: str, api_database: ThrowawayDatabase
) -> None:
    """The catalogued statement answers `?found`, `?version`, `?row`, then the function's
    columns; the SQLite twin the same columns; the lookups the same columns in both
    dialects."""
    sqlite_path = Path(sqlite_url.removeprefix("sqlite:///"))
    sqlite_queries = query_set("sqlite")
    for endpoint in CATALOG.endpoints:
        columns = [column.name for column in endpoint.columns]
        assert result_columns_sqlite(sqlite_path, sqlite_queries[endpoint.name]) == columns
        # psycopg speaks %s, not $n: the statement with every argument NULL.
        sql = re.sub(r"\$[0-9]+", "NULL", endpoint.statement)
        found_and_row = ["?found", "?version", "?row"]
        assert result_columns_postgres(api_database.reader_url, sql, None) == [
            *found_and_row,
            *columns,
        ], endpoint.name
        if endpoint.exists_name:
            exists = sqlite_queries[endpoint.exists_name]
            assert result_columns_sqlite(sqlite_path, exists) == ["found"]
    for name, query in query_set("postgres").items():
        expected = result_columns_sqlite(sqlite_path, sqlite_queries[name])
        arguments = dict.fromkeys(query.parameters)  # type: ignore[attr-defined]
        assert result_columns_postgres(api_database.reader_url, query.sql, arguments) == expected  # type: ignore[attr-defined]


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
