"""Data access: the only module that calls aiosql.

A store runs the named queries of one dialect (queries/sqlite or queries/postgres) and
hands back plain dicts. Routes never see a connection, a cursor or SQL. The two stores
differ only in how they connect, how a date is passed, and which driver errors mean "the
database cannot answer now" (a 503) rather than a bug.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Protocol

import aiosql
import aiosqlite
import asyncpg

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
    return PostgresStore(await create_pool(settings))


class _QueryStore:
    """Runs one dialect's named queries on a connection or a pool (aiosql takes either)."""

    dialect: ClassVar[str]
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]]

    def __init__(self, connection_or_pool: Any) -> None:
        self._target = connection_or_pool
        self._queries = load_queries(self.dialect)

    def _date(self, value: date | None) -> Any:
        return value

    async def summary(
        self,
        query_name: str,
        *,
        id_argument: str,
        entity_id: str,
        date_from: date | None,
        date_to: date | None,
    ) -> dict[str, Any]:
        row = await self._run(
            query_name,
            **{
                id_argument: entity_id,
                "date_from": self._date(date_from),
                "date_to": self._date(date_to),
            },
        )
        return dict(row)

    async def exists(self, query_name: str, *, id_argument: str, entity_id: str) -> bool:
        return bool(await self._run(query_name, **{id_argument: entity_id}))

    async def ping(self) -> None:
        await self._run("ping")

    async def close(self) -> None:
        await self._target.close()

    async def _run(self, query_name: str, **arguments: Any) -> Any:
        query = getattr(self._queries, query_name)
        try:
            return await query(self._target, **arguments)
        except self.unavailable_errors as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error


class SQLiteStore(_QueryStore):
    """The embedded development database: one read-only connection per worker."""

    dialect = "sqlite"
    # Locked, corrupt, or the file went away: the database cannot answer, not a bug.
    unavailable_errors = (sqlite3.OperationalError,)

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

    def _date(self, value: date | None) -> Any:
        # SQLite has no date type: the queries take ISO text and convert with unixepoch().
        return value.isoformat() if value else None


class PostgresStore(_QueryStore):
    """Production: an asyncpg pool per worker; aiosql takes a connection per query."""

    dialect = "postgres"
    # The link (OSError, a connection-class error, a closed connection), the server
    # refusing or shutting down, a statement cancelled by statement_timeout (57014 is an
    # OperatorInterventionError), the client-side command timeout (TimeoutError).
    unavailable_errors = (
        OSError,
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,
        asyncpg.InsufficientResourcesError,
        asyncpg.ConnectionDoesNotExistError,
    )


async def _leave_session_alone(connection: asyncpg.Connection) -> None:
    """Pool reset hook that does nothing.

    asyncpg's default reset runs RESET ALL, CLOSE ALL, UNLISTEN * and an advisory unlock on
    every release: a round trip that costs about a third of the throughput. Skipping it is
    safe because no request leaves session state behind: each query is one statement, and
    no SET, LISTEN, cursor or advisory lock ever runs on a pooled connection (the statement
    timeout is a connection parameter, not a SET).
    """


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """The one place a PostgreSQL pool is made (per worker: the server sees
    WORKERS x DB_POOL_MAX connections)."""
    server_settings = {"application_name": "reviews-api"}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    try:
        return await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            server_settings=server_settings,
            statement_cache_size=settings.db_statement_cache_size,
            reset=_leave_session_alone,
        )
    except PostgresStore.unavailable_errors as error:
        raise DatabaseUnavailable(f"PostgreSQL: {error}") from error
