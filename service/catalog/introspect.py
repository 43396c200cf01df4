"""Reading a database's API catalog: the queries of queries/catalog/introspect.sql.

`reviews-api catalog` runs them with psycopg (`read_catalog`); the service runs
`set_catalog_search_path` and `api_functions` with asyncpg (`catalog_queries("asyncpg")`)
and hands the rows to `build.signature_differences`. Either way on a connection of its
own, since the first query sets the session's search_path.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiosql
import psycopg
from psycopg.rows import DictRow, dict_row

from service.catalog.build import build_catalog
from service.catalog.model import CatalogError
from service.store.sql_files import queries_dir

CONNECT_TIMEOUT_S = 10


@cache
def catalog_queries(driver: str) -> Any:
    """The catalog queries for an aiosql driver: `psycopg` or `asyncpg`."""
    return aiosql.from_path(queries_dir("catalog"), driver)


def read_catalog(connection: psycopg.Connection[DictRow]) -> tuple[dict[str, Any], list[str]]:
    """The catalog of the database `connection` is on, and the builder's warnings; raises
    CatalogError when its functions do not make a valid API."""
    queries = catalog_queries("psycopg")
    queries.set_catalog_search_path(connection)
    rows = list(queries.api_functions(connection))

    def statement_for(function: str, exists: str | None) -> str:
        return str(
            queries.endpoint_statement(
                connection, function_signature=function, exists_signature=exists
            )
        )

    return build_catalog(rows, statement_for)


def catalog_of_database(database_url: str) -> tuple[dict[str, Any], list[str]]:
    """`read_catalog` on a session of its own to `database_url` (postgresql://...)."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise CatalogError(
            f"the catalog is read from PostgreSQL; got a {parts.scheme or 'scheme-less'} URL"
        )
    url = urlunsplit(parts._replace(scheme="postgresql"))
    try:
        connection = psycopg.connect(
            url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.Error as error:
        raise CatalogError(f"cannot connect to the database: {error}") from error
    with connection:
        try:
            return read_catalog(connection)
        except psycopg.Error as error:
            raise CatalogError(f"cannot read the functions of review_api: {error}") from error
