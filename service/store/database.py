"""Data access: the only module that calls aiosql.

A store runs the named queries of one dialect (queries/sqlite or queries/postgres) and
hands back plain dicts. Routes never see a connection, a cursor or SQL. The two stores
differ only in how they connect, how a date is passed, and which driver errors mean "the
database cannot answer now" (a 503) rather than a bug.

Whatever is stored, a row the service cannot represent (a review date past 9999, which
PostgreSQL holds and Python's date cannot) is `UnrepresentableRow`, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeAlias

import aiosql
import aiosqlite
import asyncpg
import orjson

from service.catalog.build import signature_differences
from service.catalog.introspect import catalog_queries
from service.catalog.model import Catalog, Endpoint
from service.settings import Settings
from service.store.connection_queue import ConnectionQueue, Overloaded
from service.store.sql_files import MissingSQL, queries_dir

# Between two failed attempts to make the pool, queries fail fast instead of reconnecting.
RECONNECT_INTERVAL_S = 1.0
# The loader's switch transaction notifies this channel with the new load id.
LOAD_CHANNEL = "reviews_data_loaded"
# How often the listening connection re-reads the live load, which also proves it is up.
LISTENER_CHECK_INTERVAL_S = 2.0
# Readiness on a standby whose replay is behind what it received: how long, and how often,
# it looks again before reporting a lag (PostgresStore._replay_lag).
REPLAY_SETTLE_S = 0.3
REPLAY_SAMPLE_INTERVAL_S = 0.05
logger = logging.getLogger("reviews_api.database")


class DatabaseUnavailable(Exception):
    """The database could not answer (down, unreachable, timed out): a 503, not a bug."""


class DatabaseMissing(DatabaseUnavailable):
    """The configured SQLite file does not exist; never create an empty one silently."""


class CatalogMismatch(DatabaseUnavailable):
    """The database's functions differ from the API catalog the service serves: not ready
    (and a 503 for the routes concerned) until an operator migrates or redeploys; the
    message names each difference."""


class UnrepresentableRow(Exception):
    """The database holds a value the service cannot represent (a date outside the years
    1 to 9999): the same answer on every retry, so no 503; the message names the value."""


class ReviewStore(Protocol):
    """What the routes need from a database, whatever the dialect."""

    async def call(self, endpoint: Endpoint, values: list[Any]) -> Answer: ...

    async def ping(self) -> float: ...

    async def current_load(self) -> tuple[str, float | None]: ...

    def pool_stats(self) -> PoolStats: ...

    def observe_queries(self, observer: QueryObserver) -> None: ...

    def observe_retries(self, observer: RetryObserver) -> None: ...

    async def watch_loads(self, changed: VersionChanged, lost: ListenerLost) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """What a catalog entry's function answered: whether the entity of its path exists
    (always true without an existence function), its rows (columns in order), and the
    data version they were read from when the database says so in the same snapshot
    (PostgreSQL; None on SQLite, whose version is read apart)."""

    found: bool
    rows: list[tuple[Any, ...]]
    version: str | None = None


@dataclass(frozen=True)
class PoolStats:
    """Connections open, running a query, and queries waiting for a connection; queries
    refused since start because the line was full or its wait ran out (Overloaded)."""

    size: int
    in_use: int
    waiting: int
    refused_full: int = 0
    refused_slow: int = 0


QueryObserver: TypeAlias = Callable[[str, float], None]
# Called with the reason each time a query is run again (a recovery conflict).
RetryObserver: TypeAlias = Callable[[str], None]
# watch_loads' callbacks: a load id and when it went live; why notifications may be missed.
VersionChanged: TypeAlias = Callable[[str, float | None], None]
ListenerLost: TypeAlias = Callable[[str], None]


def _ignore_query(query_name: str, seconds: float) -> None:
    """The observer until the app sets one."""


def _ignore_retry(reason: str) -> None:
    """The retry observer until the app sets one."""


def load_queries(dialect: str) -> Any:
    """The aiosql query set of a dialect (`sqlite` or `postgres`)."""
    driver = {"sqlite": "aiosqlite", "postgres": "asyncpg"}[dialect]
    folder = queries_dir(dialect)
    queries = aiosql.from_path(folder, driver)
    if not queries.available_queries:  # never serve from an installation without its SQL
        raise MissingSQL(f"no queries in {folder}: this installation of reviews-api is incomplete")
    return queries


async def open_store(settings: Settings, catalog: Catalog) -> ReviewStore:
    """Open the store `DATABASE_URL` names, for the endpoints of `catalog`; the URL's scheme
    picks the dialect."""
    if settings.dialect == "sqlite":
        store = await SQLiteStore.open(settings.sqlite_path, connections=settings.db_pool_max)
        try:
            store.verify(catalog)
        except BaseException:
            await store.close()
            raise
        return store
    return await PostgresStore.open(settings, catalog)


class _QueryStore:
    """Runs one dialect's named queries; a subclass says on what (`_execute`)."""

    dialect: ClassVar[str]
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]]
    # The database refused the service's login a right: an operator must act (logged at
    # ERROR); for the client, like any database that cannot answer, a 503.
    permission_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self) -> None:
        self._queries = load_queries(self.dialect)
        self._observer: QueryObserver = _ignore_query
        self._retry_observer: RetryObserver = _ignore_retry
        self._in_flight = 0  # queries started and not finished, waiting ones included

    async def ping(self) -> float:
        """Readiness: the database answers; how many seconds its data is behind (replay_lag_s)."""
        await self._run("ping")
        return float(await self._run("replay_lag_s"))

    async def current_load(self) -> tuple[str, float | None]:
        """The data version (what changes when the data does: the ETag's first half) and
        when that data went live (Unix seconds, None when unknown)."""
        row = await self._run("current_load")
        return str(row["data_version"]), row["loaded_at"]

    def observe_queries(self, observer: QueryObserver) -> None:
        """Call `observer(query_name, seconds)` after every query (metrics)."""
        self._observer = observer

    def observe_retries(self, observer: RetryObserver) -> None:
        """Call `observer(reason)` each time a query is run again (metrics)."""
        self._retry_observer = observer

    def pool_stats(self) -> PoolStats:
        return PoolStats(
            size=1, in_use=min(self._in_flight, 1), waiting=max(self._in_flight - 1, 0)
        )

    async def watch_loads(self, changed: VersionChanged, lost: ListenerLost) -> None:
        """Report each new load as it goes live, until cancelled; a store whose database
        cannot notify returns at once (callers then re-read `current_load`)."""

    async def _run(self, query_name: str, **arguments: Any) -> Any:
        started = time.perf_counter()
        self._in_flight += 1
        try:
            return await self._execute(query_name, arguments)
        except self.permission_errors as error:
            raise _permission_denied(error) from error
        except self.unavailable_errors as error:
            raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
        finally:
            self._in_flight -= 1
            self._observer(query_name, time.perf_counter() - started)

    async def _execute(self, query_name: str, arguments: dict[str, Any]) -> Any:
        raise NotImplementedError


class SQLiteStore(_QueryStore):
    """The embedded development database: a few read-only connections per worker
    (DB_POOL_MAX), each running its queries in a thread of its own (aiosqlite), so that
    concurrent requests read side by side: SQLite lets go of the GIL while it reads."""

    dialect = "sqlite"
    # Locked, corrupt, or the file went away: the database cannot answer, not a bug.
    unavailable_errors = (sqlite3.OperationalError,)

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        super().__init__()
        self._connections = connections
        # Last in, first out: a lone request keeps reusing the connection with the warm cache.
        self._idle: asyncio.LifoQueue[aiosqlite.Connection] = asyncio.LifoQueue()
        for connection in connections:
            self._idle.put_nowait(connection)

    @classmethod
    async def open(cls, path: Path, connections: int = 1) -> SQLiteStore:
        if not path.is_file():
            raise DatabaseMissing(
                f"SQLite database {path} does not exist: build it with `make data` "
                "or point DATABASE_URL at an existing file"
            )
        opened: list[aiosqlite.Connection] = []
        try:
            for _ in range(connections):
                # mode=ro: the service never writes, and never creates a file by accident.
                connection = await aiosqlite.connect(f"{path.as_uri()}?mode=ro", uri=True)
                opened.append(connection)
                connection.row_factory = aiosqlite.Row
            return cls(opened)
        except BaseException:
            for connection in opened:  # their threads would keep a failed start-up alive
                await connection.close()
            raise

    async def close(self) -> None:
        for connection in self._connections:
            await connection.close()

    def pool_stats(self) -> PoolStats:
        in_use = len(self._connections) - self._idle.qsize()
        return PoolStats(
            size=len(self._connections), in_use=in_use, waiting=max(self._in_flight - in_use, 0)
        )

    def verify(self, catalog: Catalog) -> None:
        """Refuse to start unless every catalog entry (and existence check) has a query of
        its name taking the function's arguments."""
        available = set(self._queries.available_queries)
        problems = []
        for endpoint in catalog.endpoints:
            expected = [argument.name for argument in endpoint.arguments]
            if endpoint.name not in available:
                problems.append(f"no query {endpoint.name} in queries/sqlite/")
            elif list(getattr(self._queries, endpoint.name).parameters) != expected:
                problems.append(f"query {endpoint.name} does not take ({', '.join(expected)})")
            if endpoint.exists_name and endpoint.exists_name not in available:
                problems.append(f"no query {endpoint.exists_name} in queries/sqlite/")
        if problems:
            raise MissingSQL(
                "the SQLite queries do not match the API catalog: " + "; ".join(problems)
            )

    async def call(self, endpoint: Endpoint, values: list[Any]) -> Answer:
        arguments = {
            argument.name: _sqlite_value(value)
            for argument, value in zip(endpoint.arguments, values, strict=True)
        }
        if endpoint.exists_name:
            entity = endpoint.path_arguments[0].name
            found = await self._run(endpoint.exists_name, **{entity: arguments[entity]})
            if not (found and found["found"]):
                return Answer(found=False, rows=[])
        result = await self._run(endpoint.name, **arguments)
        rows = [_typed(endpoint, row) for row in _rows(result)]
        _check_dates(endpoint, rows)
        return Answer(found=True, rows=rows)

    async def _execute(self, query_name: str, arguments: dict[str, Any]) -> Any:
        connection = await self._idle.get()
        try:
            result = getattr(self._queries, query_name)(connection, **arguments)
            if inspect.isasyncgen(result):  # aiosql streams a many-row select
                return [row async for row in result]
            return await result
        finally:
            self._idle.put_nowait(connection)


def _sqlite_value(value: Any) -> Any:
    """SQLite has no date or array type: ISO text, and JSON text read with json_each."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return orjson.dumps(value, default=_sqlite_value).decode()
    return value


def _typed(endpoint: Endpoint, row: Any) -> tuple[Any, ...]:
    """SQLite has no boolean: a boolean column's 0/1 becomes false/true, as PostgreSQL's."""
    values = tuple(row)
    if not endpoint.boolean_columns:
        return values
    return tuple(
        bool(v) if n in endpoint.boolean_columns and v is not None else v
        for n, v in enumerate(values)
    )


def _rows(result: Any) -> list[Any]:
    """A `^` query gives a row (or None), any other select a list of rows."""
    if result is None:
        return []
    return list(result) if isinstance(result, list) else [result]


def _check_dates(endpoint: Endpoint, rows: list[tuple[Any, ...]]) -> None:
    """SQLite's date() gives text like '0000-01-01' or '-1199-02-15' before year 1 (and the
    queries give the raw number where date() gives NULL, past 9999-12-31): where
    PostgreSQL's driver fails to decode such a date, fail alike."""
    positions = [n for n, column in enumerate(endpoint.columns) if column.type == "date"]
    for row in rows:
        for n in positions:
            day = row[n]
            if day is None:
                continue
            try:
                date.fromisoformat(day)
            except (TypeError, ValueError):
                raise UnrepresentableRow(
                    f"a review date outside 0001-01-01..9999-12-31 (SQLite gives {day!r})"
                ) from None


# The connection itself is gone or in an unknown state: terminate it, never hand it back to
# the pool. A session killed while idle in the pool may surface as InternalClientError
# ("cannot switch to state 12; another operation (2) is in progress", asyncpg issue #1069)
# before the closed socket is noticed; SQLAlchemy treats it as a disconnect too (#13241).
BROKEN_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InternalClientError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def _broken(error: BaseException, connection: Any) -> bool:
    """True when `connection` must not serve another query after `error`. A timed-out or
    cancelled query leaves it usable once the cancellation is through (the release waits)."""
    try:
        if connection.is_closed():
            return True
    except asyncpg.InterfaceError:  # closed, and the pool already took its place back
        return True
    return isinstance(error, BROKEN_CONNECTION_ERRORS) and not isinstance(error, TimeoutError)


# SQLSTATE 40001: what a standby answers when it cancels a query (ERROR) or terminates its
# session (FATAL) so that replay can go on ("conflict with recovery"); on a primary, where
# the service runs no serializable transaction, it never comes.
RECOVERY_CONFLICT_SQLSTATE = "40001"
# Before each retry of a query a recovery conflict cancelled: at once, then after replay has
# had a moment to apply the rest of the change.
CONFLICT_RETRY_PAUSES_S = (0.0, 0.05, 0.2)


def _recovery_conflict(error: BaseException) -> bool:
    return getattr(error, "sqlstate", None) == RECOVERY_CONFLICT_SQLSTATE


def _terminate(connection: Any) -> None:
    """Close a broken connection at once; its place in the pool is free again, empty."""
    with contextlib.suppress(asyncpg.InterfaceError):  # the pool has taken it back already
        connection.terminate()


class PostgresStore(_QueryStore):
    """Production: an asyncpg pool per worker, made lazily so that a database that is down
    at start-up (or later) costs 503s, never the process.

    The pool is made at start-up when PostgreSQL answers; when it does not, the first query
    that needs it tries again, at most once per RECONNECT_INTERVAL_S (queries in between fail
    at once rather than pile up behind a connection attempt each). Once made, the pool
    reconnects its own connections: it is never thrown away.

    Queries wait for a connection in a bounded line (service/store/connection_queue.py). A
    connection that broke is terminated, and the query (a read) tried again on another
    one, up to once per pool connection, so killed sessions cost no answer while the
    server accepts new ones. Readiness has a connection of its own, outside the pool.
    """

    dialect = "postgres"
    # The link (OSError, a connection-class error, a closed connection), the server
    # refusing or shutting down, a statement cancelled by statement_timeout (57014 is an
    # OperatorInterventionError), the client-side command or acquire timeout (TimeoutError).
    unavailable_errors = (
        OSError,
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,
        asyncpg.InsufficientResourcesError,
        asyncpg.InternalClientError,
        asyncpg.TransactionRollbackError,  # a second recovery conflict in a row (40001)
    )
    # No right on a schema, table or function (42501); a login refused (28000, 28P01).
    permission_errors = (
        asyncpg.InsufficientPrivilegeError,
        asyncpg.InvalidAuthorizationSpecificationError,
    )

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        super().__init__()
        self._settings = settings
        self._catalog = catalog
        # Endpoints whose function differs from the catalog: what differs (_check_catalog).
        self._mismatched: dict[str, str] = {}
        self._pool: asyncpg.Pool | None = None
        # One connection attempt at a time per worker, however many requests are waiting.
        self._pool_lock = asyncio.Lock()
        self._next_attempt_at = 0.0
        self._last_failure = ""
        self._releasing: set[asyncio.Task[None]] = set()
        self._statements: dict[str, Statement] = {
            **asyncpg_statements(self._queries),
            **{e.name: CatalogStatement(e.statement) for e in catalog.endpoints},
        }
        self.queue = ConnectionQueue(
            settings.db_pool_max, settings.db_queue_max, settings.db_queue_wait_ms / 1000
        )
        # Readiness: one connection outside the pool, one probe query at a time.
        self._probe_connection: asyncpg.Connection | None = None
        self._probe: asyncio.Future[float] | None = None
        self._next_probe_connect_at = 0.0
        self._last_answer_at = time.monotonic()  # when a pooled query last succeeded

    @classmethod
    async def open(cls, settings: Settings, catalog: Catalog) -> PostgresStore:
        store = cls(settings, catalog)
        try:
            await store._connected_pool()
        except DatabaseUnavailable as error:
            logger.warning(
                "PostgreSQL is not answering at start-up; serving 503 until it does: %s", error
            )
        return store

    def pool_stats(self) -> PoolStats:
        size = 0 if self._pool is None else self._pool.get_size()
        return PoolStats(
            size=size,
            in_use=self.queue.in_use,
            waiting=self.queue.waiting,
            refused_full=self.queue.refused_full,
            refused_slow=self.queue.refused_slow,
        )

    async def close(self) -> None:
        """Close the pool, waiting for queries still running, then terminating any left."""
        if self._probe_connection is not None:
            self._probe_connection.terminate()
        if self._pool is None:
            return
        try:
            async with asyncio.timeout(self._settings.db_command_timeout_s):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()

    async def call(self, endpoint: Endpoint, values: list[Any]) -> Answer:
        if endpoint.name in self._mismatched:
            raise CatalogMismatch(self._mismatched[endpoint.name])
        return await self._call(endpoint, values)

    async def _call(self, endpoint: Endpoint, values: list[Any]) -> Answer:
        """One round trip: the catalogued statement selects `?found` (the existence
        function's answer, or true), `?version` (the live load's id, in the rows' snapshot)
        and `?row` (NULL on the one row of an entity with no rows) before the function's
        columns (docs/api-catalog.md)."""
        records = await self._run(endpoint.name, values=values)
        first = records[0]  # the statement always answers one row at least
        rows = [tuple(r)[3:] for r in records if r[2]]
        return Answer(found=first[0], rows=rows, version=first[1])

    async def _execute(self, query_name: str, arguments: dict[str, Any]) -> Any:
        statement = self._statements[query_name]
        pool = self._pool or await self._connected_pool()
        if not self.queue.try_acquire():
            await self._wait_in_line()
        # The slot is released with the connection: at most DB_POOL_MAX are ever taken,
        # so the pool's acquire below only ever waits for a new connection to open.
        broken_attempts = 0
        conflicts = 0
        while True:
            try:
                # asyncpg runs an acquire that has a timeout as a task of its own (about
                # 10 µs of CPU); with a connection idle there is nothing to wait for.
                if pool.get_idle_size():
                    connection = await pool.acquire()
                else:
                    connection = await pool.acquire(timeout=self._settings.db_connect_timeout_s)
            except BaseException:
                self.queue.release()
                raise
            try:
                result = await statement.run(connection, arguments)
            except asyncio.CancelledError:
                self._release_in_background(pool, connection)
                raise
            except Exception as error:
                if _recovery_conflict(error) and conflicts < len(CONFLICT_RETRY_PAUSES_S):
                    # A standby cancelled the query to replay a change (a load's swap): the
                    # same query a moment later reads the replayed data. A load's swap is
                    # several records, each of which may cancel it again: a few retries,
                    # each after a longer pause; then a 503 like any database that cannot
                    # answer now.
                    pause_s = CONFLICT_RETRY_PAUSES_S[conflicts]
                    conflicts += 1
                    self._retry_observer("recovery_conflict")
                    logger.info("a query was cancelled by a recovery conflict; once more")
                    await self._discard(pool, connection, error)
                    await asyncio.sleep(pause_s)
                    continue
                if not _broken(error, connection):
                    # Answer now; the connection stays counted until it is released.
                    self._release_in_background(pool, connection)
                    if isinstance(error, (ValueError, OverflowError)):  # decoding a value
                        raise UnrepresentableRow(f"{type(error).__name__}: {error}") from error
                    raise
                _terminate(connection)
                broken_attempts += 1
                if broken_attempts > self._settings.db_pool_max or isinstance(error, TimeoutError):
                    self.queue.release()
                    raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
                logger.info("a database connection broke (%s); trying another", error)
                continue
            self._last_answer_at = time.monotonic()
            try:
                await pool.release(connection)
            finally:
                self.queue.release()
            return result

    async def _discard(self, pool: asyncpg.Pool, connection: Any, error: BaseException) -> None:
        """Give back the connection a failed query ran on, keeping the query's slot in the
        line: terminated when broken (a conflict's FATAL variant closes the session)."""
        if _broken(error, connection):
            _terminate(connection)
            return
        try:
            await pool.release(connection, timeout=self._settings.db_connect_timeout_s)
        except Exception:  # noqa: BLE001 - a failed release has terminated it already
            _terminate(connection)

    async def _wait_in_line(self) -> None:
        """Every connection is busy: wait for one, or be refused."""
        try:
            await self.queue.acquire()
        except Overloaded:
            # A full or slow line while queries still finish is load. While none has for
            # longer than a query may take (DB_COMMAND_TIMEOUT_S, the limit for a dead
            # link), the database is not answering. (Not the line's own wait: under a
            # flood the event loop alone can delay every completion by a second.)
            silent_s = time.monotonic() - self._last_answer_at
            if silent_s > self._settings.db_command_timeout_s:
                raise DatabaseUnavailable(
                    f"every connection is busy and no query has finished for {silent_s:.1f} s"
                ) from None
            raise

    def _release_in_background(self, pool: asyncpg.Pool, connection: Any) -> None:
        # The release waits for the cancellation of a timed-out query: over a dead link,
        # up to this timeout more. The query's slot in the line is held until then.
        release = pool.release(connection, timeout=self._settings.db_connect_timeout_s)
        task = asyncio.get_running_loop().create_task(release)
        self._releasing.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._released_in_background)

    def _released_in_background(self, task: asyncio.Task[None]) -> None:
        self._releasing.discard(task)
        self.queue.release()
        if not task.cancelled():
            task.exception()  # a failed release terminated the connection: nothing to add

    async def ping(self) -> float:
        """Readiness: the pool can be made, and PostgreSQL answers a query on a connection of
        the probe's own (application_name reviews-api-ready), so that a busy pool and its
        line never delay the answer. Probes arriving together share one query. Not ready
        while the database's functions differ from the API catalog. Answers the read
        database's replay lag in seconds (0 on a primary)."""
        await self._connected_pool()
        if self._mismatched:
            raise CatalogMismatch("; ".join(self._mismatched.values()))
        if self._probe is None:
            self._probe = asyncio.ensure_future(self._observed_probe())
            self._probe.add_done_callback(self._probe_done)
        return await asyncio.shield(self._probe)

    def _probe_done(self, probe: asyncio.Future[float]) -> None:
        self._probe = None
        if not probe.cancelled():
            probe.exception()  # retrieved here too: every waiter may have gone

    async def _observed_probe(self) -> float:
        started = time.perf_counter()
        try:
            return await self._probe_query()
        finally:
            self._observer("ping", time.perf_counter() - started)

    async def _probe_query(self) -> float:
        for attempt in (1, 2):  # a connection killed since the last probe: once more
            connection = await self._probe_connected()
            try:
                await self._statements["ping"].run(connection, {})
                return await self._replay_lag(connection)
            except Exception as error:
                if _broken(error, connection):
                    _terminate(connection)
                    self._probe_connection = None
                    if attempt == 1 and not isinstance(error, TimeoutError):
                        continue
                if isinstance(error, self.permission_errors):
                    raise _permission_denied(error) from error
                if isinstance(error, self.unavailable_errors):
                    raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _replay_lag(self, connection: asyncpg.Connection) -> float:
        """The standby's replay lag, the least of samples REPLAY_SAMPLE_INTERVAL_S apart
        over up to REPLAY_SETTLE_S. WAL that is no commit (a checkpoint's, the primary's
        periodic snapshot of running transactions) also arrives while the primary is idle,
        and is replayed a moment later: in that moment the time since the last replayed
        commit, which the query reports while received WAL waits, is no lag."""
        lag = float(await self._statements["replay_lag_s"].run(connection, {}))
        settle_until = time.monotonic() + REPLAY_SETTLE_S
        while lag > 0 and time.monotonic() < settle_until:
            await asyncio.sleep(REPLAY_SAMPLE_INTERVAL_S)
            lag = min(lag, float(await self._statements["replay_lag_s"].run(connection, {})))
        return lag

    async def _probe_connected(self) -> asyncpg.Connection:
        if self._probe_connection is not None and not self._probe_connection.is_closed():
            return self._probe_connection
        # After a failed attempt, probes fail at once until the next one is due.
        if time.monotonic() < self._next_probe_connect_at:
            raise DatabaseUnavailable(f"PostgreSQL is not answering: {self._last_failure}")
        try:
            self._probe_connection = await connect(self._settings, "reviews-api-ready")
        except DatabaseUnavailable as error:
            self._last_failure = str(error)
            self._next_probe_connect_at = time.monotonic() + RECONNECT_INTERVAL_S
            raise
        return self._probe_connection

    async def watch_loads(self, changed: VersionChanged, lost: ListenerLost) -> None:
        """LISTEN on one connection of its own (outside the pool, whose reset is off), and
        reconnect whenever it fails, reporting the loss first; until cancelled."""
        while True:
            try:
                await self._listen(changed)
            except Exception as error:  # noqa: BLE001 - whatever broke, listen again
                lost(f"{type(error).__name__}: {error}")
            await asyncio.sleep(RECONNECT_INTERVAL_S)

    async def _listen(self, changed: VersionChanged) -> None:
        """Report the live load now, on each notification, and every check interval (a
        missed notification, a dead link) until the connection fails."""
        settings = self._settings
        connection = await asyncpg.connect(
            settings.listen_database_url or settings.database_url,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            server_settings={"application_name": "reviews-api-listener"},
            statement_cache_size=0,  # one query every few seconds: nothing to keep
        )
        wake = asyncio.Event()
        connection.add_termination_listener(lambda _connection: wake.set())
        try:
            await connection.add_listener(LOAD_CHANNEL, lambda *_notification: wake.set())
            current_load = self._statements["current_load"]
            while not connection.is_closed():
                wake.clear()  # before the read: a notification during it reads again
                row = await current_load.run(connection, {})
                changed(str(row["data_version"]), row["loaded_at"])
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LISTENER_CHECK_INTERVAL_S):
                        await wake.wait()
            raise DatabaseUnavailable("the listening connection was closed")
        finally:
            connection.terminate()

    async def _connected_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:  # another request may have made it while we waited
                    self._pool = await self._create_pool_at_most_every_interval()
        return self._pool

    async def _create_pool_at_most_every_interval(self) -> asyncpg.Pool:
        now = time.monotonic()
        if now < self._next_attempt_at:
            raise DatabaseUnavailable(
                f"PostgreSQL is not answering (next attempt in "
                f"{self._next_attempt_at - now:.1f} s): {self._last_failure}"
            )
        self._next_attempt_at = now + RECONNECT_INTERVAL_S
        try:
            pool = await create_pool(self._settings)
        except DatabaseUnavailable as error:
            self._last_failure = str(error)
            raise
        logger.info("PostgreSQL pool ready")
        await self._check_catalog()
        return pool

    async def _check_catalog(self) -> None:
        """Once the database answers: each catalogued function must exist with the
        catalogued arguments and columns (on a session of its own: the introspection
        sets the session's search_path). Logged at ERROR: an operator must act."""
        connection = await connect(self._settings, "reviews-api-catalog-check")
        try:
            queries = catalog_queries("asyncpg")
            await queries.set_catalog_search_path(connection)
            rows = [dict(row) async for row in queries.api_functions(connection)]
        finally:
            connection.terminate()
        self._mismatched = {}
        for endpoint in self._catalog.endpoints:
            problems = signature_differences({"endpoints": [endpoint.document]}, rows)
            if problems:
                self._mismatched[endpoint.name] = "; ".join(problems)
                logger.error("the database does not match the API catalog: %s", problems)


@dataclass(frozen=True)
class AsyncpgStatement:
    """One aiosql query run on an asyncpg connection directly.

    aiosql's asyncpg adapter checks `"acquire" in dir(connection)` on every call to tell a
    pool from a connection (about 20 µs, a tenth of a request's CPU): the service always
    passes a connection, so it takes the SQL aiosql prepared (`:name` rewritten to `$n`)
    and the argument order once, and calls asyncpg itself.
    """

    sql: str
    argument_names: tuple[str, ...]
    returns_value: bool  # `$` queries: the first column of the first row; `^`: the row

    async def run(self, connection: asyncpg.Connection, arguments: dict[str, Any]) -> Any:
        values = [arguments[name] for name in self.argument_names]
        if self.returns_value:
            return await connection.fetchval(self.sql, *values)
        return await connection.fetchrow(self.sql, *values)


@dataclass(frozen=True)
class CatalogStatement:
    """The statement of a catalog entry, its arguments in the function's order."""

    sql: str

    async def run(self, connection: asyncpg.Connection, arguments: dict[str, Any]) -> Any:
        return await connection.fetch(self.sql, *arguments["values"])


Statement: TypeAlias = AsyncpgStatement | CatalogStatement


def asyncpg_statements(queries: Any) -> dict[str, AsyncpgStatement]:
    """The statements of an aiosql query set loaded for asyncpg, by query name; only
    single-row (`^`) and single-value (`$`) queries, the only kinds the service runs."""
    statements = {}
    for name in queries.available_queries:
        query = getattr(queries, name)
        operation = query.operation.name
        if operation not in ("SELECT_ONE", "SELECT_VALUE"):
            raise ValueError(f"query {name} must end in ^ or $ (it is {operation})")
        statements[name] = AsyncpgStatement(
            sql=query.sql,
            argument_names=tuple(queries.driver_adapter.var_sorted[name]),
            returns_value=operation == "SELECT_VALUE",
        )
    return statements


async def _leave_session_alone(connection: asyncpg.Connection) -> None:
    """Pool reset hook that does nothing.

    asyncpg's default reset runs RESET ALL, CLOSE ALL, UNLISTEN * and an advisory unlock on
    every release: a round trip that costs about a third of the throughput. Skipping it is
    safe because no request leaves session state behind: each query is one statement, and
    no SET, LISTEN, cursor or advisory lock ever runs on a pooled connection (the statement
    timeout is a connection parameter, not a SET).
    """


def _server_settings(settings: Settings, application_name: str) -> dict[str, str]:
    server_settings = {"application_name": application_name}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return server_settings


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """The one place a PostgreSQL pool is made (per worker: with its readiness and listening
    connections, the server sees WORKERS x (DB_POOL_MAX + 2) connections)."""
    try:
        return await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            server_settings=_server_settings(settings, "reviews-api"),
            statement_cache_size=settings.db_statement_cache_size,
            reset=_leave_session_alone,
        )
    except PostgresStore.permission_errors as error:
        raise _permission_denied(error) from error
    except PostgresStore.unavailable_errors as error:
        raise DatabaseUnavailable(f"PostgreSQL: {error}") from error


def _permission_denied(error: BaseException) -> DatabaseUnavailable:
    """Log (ERROR: someone must grant a right) a refusal of the service's login."""
    logger.error(
        "the database refused the service's login: %s: %s. The login of DATABASE_URL must be "
        "a member of reviews_reader, with CONNECT on the database (deploy/postgres-setup.sql "
        "sets both up); answering 503 meanwhile",
        type(error).__name__,
        error,
    )
    return DatabaseUnavailable(f"permission denied: {error}")


async def connect(settings: Settings, application_name: str) -> asyncpg.Connection:
    """One connection outside the pool (the readiness probe's), configured like the pool's."""
    try:
        return await asyncpg.connect(
            settings.database_url,
            timeout=settings.db_connect_timeout_s,
            command_timeout=settings.db_command_timeout_s,
            server_settings=_server_settings(settings, application_name),
            statement_cache_size=0,  # one query every few seconds: nothing to keep
        )
    except PostgresStore.permission_errors as error:
        raise _permission_denied(error) from error
    except PostgresStore.unavailable_errors as error:
        raise DatabaseUnavailable(f"PostgreSQL: {error}") from error
