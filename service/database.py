"""Data access: the only module that calls aiosql.

A `ReviewStore` runs the named queries of one dialect (queries/sqlite or queries/postgres)
and hands back plain dicts. Routes never see a connection, a cursor or SQL.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import aiosql
import aiosqlite

from .settings import PROJECT_ROOT, Settings

QUERIES_DIR = PROJECT_ROOT / "queries"


class DatabaseUnavailable(Exception):
    """The database could not answer (down, unreachable, timed out): a 503, not a bug."""


class DatabaseMissing(DatabaseUnavailable):
    """The configured SQLite file does not exist; never create an empty one silently."""


class ReviewStore(Protocol):
    """What the routes need from a database, whatever the dialect."""

    async def summary(
        self,
        query_name: str,
        *,
        id_argument: str,
        entity_id: str,
        date_from: date | None,
        date_to: date | None,
    ) -> dict[str, Any]: ...

    async def exists(self, query_name: str, *, id_argument: str, entity_id: str) -> bool: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def load_queries(dialect: str) -> Any:
    """The aiosql query set of a dialect (`sqlite` or `postgres`)."""
    driver = {"sqlite": "aiosqlite", "postgres": "asyncpg"}[dialect]
    return aiosql.from_path(QUERIES_DIR / dialect, driver)


async def open_store(settings: Settings) -> ReviewStore:
    """Open the store `DATABASE_URL` names; its scheme picks the dialect."""
    if settings.dialect == "sqlite":
        return await SQLiteStore.open(settings.sqlite_path)
    raise DatabaseUnavailable(f"no store for dialect {settings.dialect!r} yet")


class SQLiteStore:
    """The embedded development database: one read-only connection per worker."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._queries = load_queries("sqlite")

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        if not path.is_file():
            raise DatabaseMissing(
                f"SQLite database {path} does not exist: build it with `make data` "
                "or point DATABASE_URL at an existing file"
            )
        # mode=ro: the service never writes, and never creates a file by accident.
        connection = await aiosqlite.connect(f"{path.as_uri()}?mode=ro", uri=True)
        connection.row_factory = aiosqlite.Row
        return cls(connection)

    async def summary(
        self,
        query_name: str,
        *,
        id_argument: str,
        entity_id: str,
        date_from: date | None,
        date_to: date | None,
    ) -> dict[str, Any]:
        query = getattr(self._queries, query_name)
        # SQLite has no date type: the queries take ISO text and convert with unixepoch().
        arguments = {
            id_argument: entity_id,
            "date_from": date_from.isoformat() if date_from else None,
            "date_to": date_to.isoformat() if date_to else None,
        }
        row = await self._run(query, **arguments)
        return dict(row)

    async def exists(self, query_name: str, *, id_argument: str, entity_id: str) -> bool:
        return bool(await self._run(getattr(self._queries, query_name), **{id_argument: entity_id}))

    async def ping(self) -> None:
        await self._run(self._queries.ping)

    async def close(self) -> None:
        await self._connection.close()

    async def _run(self, query: Any, **arguments: Any) -> Any:
        try:
            return await query(self._connection, **arguments)
        except sqlite3.OperationalError as error:  # locked, corrupt, file gone
            raise DatabaseUnavailable(f"SQLite: {error}") from error
