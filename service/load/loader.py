"""`reviews-api load` and `reviews-api index`: replace the review data from a file.

PostgreSQL: an atomic full replacement
--------------------------------------
The live table is never written to. Rows are copied into a staging table, indexed and
vacuumed there, and only then swapped in, in one short transaction, by the procedures of
migrations/postgres/0006.loader-procedures.sql, 0007 and 0008 (queries/loader/postgres/
load.sql drives them). So readers see the old data or the new, never a mix and never an
empty table; any failure before the swap (a bad row, a killed process, a lost connection)
leaves the old data live and at most a staging table behind, which the next load drops;
and loading the same file twice leaves one copy, as each load is a replacement. Where the
load waits for readers (all-visible rows before the swap, the swap's locks), each wait is
bounded and never stalls their queries for long: service/load/publishing.py.

One load at a time: review_admin.load_lock, locked in a transaction of a session that does
nothing else (so it holds no snapshot that would keep VACUUM from marking the new rows
all-visible) and released with that session, so a killed loader cannot leave it stuck.
Only the owner may lock it: a reader cannot hold loads up. Every session is the owner
login given to the command, with `statement_timeout` and
`idle_in_transaction_session_timeout` off for it (index builds of a large load, the lock's
long transaction), and `client_connection_check_interval` on, so the server ends it soon
after the loader is killed. It needs real sessions, so it goes to PostgreSQL itself, not
through pgbouncer in transaction mode.

Speed. Rows travel by binary COPY (asyncpg's `copy_records_to_table`), one COPY per batch
of the source. While PostgreSQL digests one batch, a worker thread reads and checks the
next (service/load/sources.py). That reading (SQLite values into Python objects) is the largest
cost of a load, and it holds the GIL, so a large SQLite source is split into
`COPY_PROCESSES` rowid ranges: this process copies the first, and a process started for
each of the others reads and copies it on a connection of its own. Indexes are built once
after the copy, which is several times faster than maintaining them, and on `SESSIONS`
connections at once, one index each (migrations/postgres/0007). The extra sessions and
processes need no lock of their own: they only touch the staging table of the load that
holds it, between its creation and the swap; and a copying process ends with the loader
(on Linux even when the loader is killed), so a killed load leaves no session behind.

SQLite: a development file
--------------------------
`--target sqlite:///PATH` writes the original schema (migrations/sqlite/schema.sql), the
rows, then the development indexes (indexes.sql), into a scratch file next to the target
that replaces it only when complete (os.replace), so the target is never half written.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import aclosing, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import aiosql
import asyncpg
import orjson

from service.load.publishing import (
    ReadersInTheWay,
    describe_sessions,
    publish_with_retries,
    wait_until_all_visible,
)
from service.load.sources import (
    COLUMNS,
    Batches,
    Reject,
    Rejected,
    Review,
    Source,
    SourceError,
    check_review_table,
    is_sqlite_file,
    open_source,
    path_uri,
    sqlite_queries,
)
from service.store.sql_files import migrations_dir, queries_dir

STAGING_SCHEMA = "review_admin"
STAGING_TABLE = "reviews_staging"
APPLICATION_NAME = "reviews-api load"
CONNECT_TIMEOUT_S = 30
CLOSE_TIMEOUT_S = 10
# Connections that build the indexes side by side (the first holds the load lock). Measured
# on 2 cores: 2 sessions build them about 30% faster than 1 (2M rows: 6.5 s, not 9.1 s), 3
# barely faster than 2; each build may use maintenance_work_mem (256MB). Copying the rows
# on 2 sessions was measured too, and was no faster: the copy is bound by the reader.
SESSIONS = 2
# Processes that read and copy a large SQLite source side by side (this one and
# COPY_PROCESSES - 1 started for it). Measured on 2 cores, 2M rows: 2 processes copy in
# 7-8 s, one in 12-13 s; 231k rows: about even (the other process's start-up, a Python
# interpreter importing this module, costs about what it saves), so not below 200k.
COPY_PROCESSES = 2
PARALLEL_COPY_MIN_ROWS = 200_000
PARALLEL_COPY_MIN_ROWS_VARIABLE = "LOAD_PARALLEL_MIN_ROWS"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PROGRESS_INTERVAL_S = 1.0
PROGRESS_POLL_S = 0.2  # how often the loader looks at the copying processes' row count
# How long a load waits for readers before giving up (--wait-timeout): longer than the
# idle_in_transaction_session_timeout the set-up script gives readers (2 min), so that a
# reader idle in a transaction never makes a load fail; the API meanwhile waits at most
# 200 ms every couple of seconds (service/load/publishing.py).
DEFAULT_WAIT_S = 300.0
STILL_LIVE = "the previous data is still live"
NOW_LIVE = "the new data is live"
# A connection lost around the publish's COMMIT leaves it unknown whether it committed.
CHECK_DATA_LOADS = (
    "whether the new data went live is unknown: the latest row of review_api.data_loads says"
)
# The link, not a row or a statement, failed. Before asyncpg.PostgresError in an except
# chain: a closed connection (ConnectionDoesNotExistError) is a PostgresError too.
LOST_CONNECTION = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


class LoadError(Exception):
    """A load failed; the message says what, where (file, line or row) and why."""


@dataclass(frozen=True)
class LoadReport:
    """What a load did, for the operator."""

    source: Path
    target: str
    rows: int
    seconds: float
    load_id: int | None = None
    rejected: int | None = None  # bad rows skipped (None: bad rows fail the load)
    rejects: Path | None = None

    def summary(self) -> str:
        """One line: rows, time, rate, target, for PostgreSQL the new data version, and
        the bad rows skipped."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        line = (
            f"loaded {self.rows:,} rows from {self.source.name} into {self.target} "
            f"in {self.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if self.load_id is not None:
            line += f"; data version (load_id) {self.load_id}"
        if self.rejected is not None:
            line += f"; skipped {self.rejected:,} bad rows, listed in {self.rejects}"
        return line


class RejectsFile:
    """The bad rows a load skipped (--on-bad-row skip): one JSON object a line, with the
    source, the line (dumps) or index (SQLite files) and the reason. A context manager; a
    `Reject` callback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        try:
            self._file = path.open("w", encoding="utf-8")
        except OSError as error:
            raise LoadError(f"cannot write the rejects file {path}: {error.strerror}") from error

    def __call__(self, rejected: Rejected) -> None:
        # default=repr: a SQLite index may be a blob or a float, not only a JSON value.
        line = orjson.dumps(rejected.record(), default=repr)
        self._file.write(line.decode() + "\n")
        self.count += 1

    def part_path(self, number: int) -> Path:
        """Where copying process `number` lists its bad rows (appended at the end)."""
        return self.path.with_name(f".{self.path.name}.part{number}")

    def append_parts(self, paths: list[Path | None]) -> None:
        """Append the copying processes' lists, in order, and remove them."""
        for path in paths:
            if path is None or not path.exists():
                continue
            with path.open(encoding="utf-8") as part:
                for line in part:
                    self._file.write(line)
                    self.count += 1
            path.unlink()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()


@contextmanager
def _rejects_file(options: LoadOptions) -> Iterator[RejectsFile | None]:
    """The rejects file when bad rows are skipped, else None."""
    if options.on_bad_row != "skip":
        yield None
        return
    if options.rejects is None:
        raise LoadError("--on-bad-row skip needs --rejects FILE, where the skipped rows go")
    with RejectsFile(options.rejects) as rejects:
        yield rejects


class Progress:
    """Progress lines on a stream (stderr from the CLI), rows at most once a second."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.last_report: float | None = None

    def rows(self, verb: str, done: int) -> None:
        """Report `done` rows so far: after the first batch, then about once a second."""
        now = time.perf_counter()
        if self.last_report is None or now - self.last_report >= PROGRESS_INTERVAL_S:
            self.last_report = now
            self.say(f"{verb} {done:,} rows ({done / (now - self.started):,.0f} rows/s)")

    def rows_done(self, verb: str, done: int) -> None:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        self.say(f"{verb} {done:,} rows in {seconds:.1f} s ({done / seconds:,.0f} rows/s)")

    def say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)


# --- PostgreSQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadOptions:
    """How a load treats bad rows and readers."""

    # "fail": the first bad row stops the load; "skip": bad rows are left out and listed,
    # one JSON object a line, in `rejects`.
    on_bad_row: str = "fail"
    rejects: Path | None = None
    # How long a load waits for readers, at each of the two points where it must
    # (service/load/publishing.py), before it gives up with the previous data live.
    wait_s: float = DEFAULT_WAIT_S


def load_into_postgres(
    source: Path,
    database_url: str,
    *,
    progress: TextIO | None = None,
    options: LoadOptions | None = None,
) -> LoadReport:
    """Replace the review data of the database at `database_url` (an owner login) with the
    rows of `source`, atomically; LoadError (previous data untouched) on any failure."""
    started = time.perf_counter()
    options = options or LoadOptions()
    try:
        reader = open_source(source)
        with _rejects_file(options) as rejects:
            published = asyncio.run(
                _load_into_postgres(reader, database_url, progress, options, rejects)
            )
    except SourceError as error:
        raise LoadError(f"{error}; {STILL_LIVE}") from error
    return LoadReport(
        source=source,
        target=f"PostgreSQL database {published.database}",
        rows=published.rows,
        seconds=time.perf_counter() - started,
        load_id=published.load_id,
        rejected=None if rejects is None else rejects.count,
        rejects=options.rejects,
    )


@dataclass(frozen=True)
class _Published:
    load_id: int
    rows: int
    database: str


async def _load_into_postgres(
    source: Source,
    database_url: str,
    stream: TextIO | None,
    options: LoadOptions,
    rejects: RejectsFile | None,
) -> _Published:
    """Drive the load protocol of migrations/postgres/0006 (and 0007, 0008): the load lock
    on a session of its own, the work on `SESSIONS` others."""
    queries = _postgres_queries()
    started_at = datetime.now(UTC)
    progress = Progress(stream)
    lock_session = await _connect(database_url)
    sessions: list[asyncpg.Connection] = []
    try:
        await _take_load_lock(lock_session, queries)
        # Hashing the file (hashlib releases the GIL) overlaps the copy.
        checksum = asyncio.create_task(asyncio.to_thread(file_sha256, source.path))
        for _ in range(SESSIONS):
            sessions.append(await _connect(database_url))
        connection = sessions[0]
        async with _step("creating the staging table", stream):
            await queries.create_staging_table(connection)
        parts = source.split(COPY_PROCESSES, _parallel_copy_min_rows())
        if len(parts) > 1:
            rows = await _copy_in_processes(
                connection, source, parts, database_url, progress, rejects
            )
        else:
            rows = await _copy_rows(connection, source, progress, rejects)
        async with _step("indexing the staged rows", stream):
            copy_end_xid = str(await queries.copy_end_xid(connection))
            await _build_indexes(sessions, queries)
        async with _step("vacuuming and analysing the staged rows", stream):
            await queries.vacuum_staging_table(connection)
            await _readers_permitting(
                wait_until_all_visible(
                    connection, queries, copy_end_xid, options.wait_s, progress.say
                )
            )
        await _stage_rollups(sessions, queries, stream, progress, options)
        source_checksum = await checksum

        async def lock_still_held() -> None:
            await queries.load_lock_alive(lock_session)

        async with _step("publishing the staged rows", stream, lost_outcome=CHECK_DATA_LOADS):
            await _readers_permitting(
                publish_with_retries(
                    connection,
                    queries,
                    options.wait_s,
                    progress.say,
                    lock_still_held,
                    source_name=source.path.name,
                    source_checksum=source_checksum,
                    expected_rows=rows,
                    started_at=started_at,
                )
            )
        # Published: from here on the new data is live, whatever happens.
        async with _step("reading back the new data version", None, outcome=NOW_LIVE):
            load_id = int(await queries.latest_load_id(connection))
            database = str(await queries.database_name(connection))
        await _drop_retired_table(connection, queries, progress)
    finally:
        await asyncio.gather(*(_close(session) for session in sessions))
        await _close(lock_session)
    return _Published(load_id=load_id, rows=rows, database=database)


async def _readers_permitting(waiting: Any) -> None:
    """Await `waiting` (service/load/publishing.py), its ReadersInTheWay a LoadError."""
    try:
        await waiting
    except ReadersInTheWay as error:
        raise LoadError(f"{error}; {STILL_LIVE}") from error


async def _drop_retired_table(
    connection: asyncpg.Connection, queries: Any, progress: Progress
) -> None:
    """The previous rows, dropped after the commit; left for the next load if that fails
    (the new data is live either way)."""
    try:
        await queries.drop_retired_table(connection)
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as error:
        progress.say(
            f"warning: the previous rows (review_admin.reviews_retired) were not dropped "
            f"({error}); the next load drops them"
        )


def _parallel_copy_min_rows() -> int:
    """PARALLEL_COPY_MIN_ROWS, or LOAD_PARALLEL_MIN_ROWS from the environment (a machine
    where starting a process costs more or less; tests lower it to split small sources)."""
    raw = os.environ.get(PARALLEL_COPY_MIN_ROWS_VARIABLE, "").strip()
    if not raw:
        return PARALLEL_COPY_MIN_ROWS
    if not raw.isdigit() or int(raw) < 1:
        raise LoadError(f"{PARALLEL_COPY_MIN_ROWS_VARIABLE}={raw!r} is not a whole number above 0")
    return int(raw)


@cache
def _postgres_queries() -> Any:
    return aiosql.from_path(queries_dir("loader", "postgres"), "asyncpg")


async def _connect(database_url: str) -> asyncpg.Connection:
    """An owner session for the load: no statement or idle-in-transaction timeout (index
    builds of a large load, the load lock's long transaction), and a server that notices
    when the loader is killed."""
    try:
        connection = await asyncpg.connect(
            database_url,
            timeout=CONNECT_TIMEOUT_S,
            server_settings={
                "statement_timeout": "0",
                "idle_in_transaction_session_timeout": "0",
                "application_name": APPLICATION_NAME,
            },
        )
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError) as error:
        # asyncpg's configuration errors are ValueErrors; refused logins PostgresErrors.
        raise LoadError(
            f"cannot connect to PostgreSQL at {_without_password(database_url)}: {error}"
        ) from error
    async with _step("preparing a session", None):
        await _postgres_queries().prepare_session(connection)
    return connection


async def _close(connection: asyncpg.Connection) -> None:
    """Close, or abort when the server does not answer: either way the session (and its
    load lock) ends. Errors here would only hide the one that matters."""
    with suppress(OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError):
        await connection.close(timeout=CLOSE_TIMEOUT_S)


async def _take_load_lock(lock_session: asyncpg.Connection, queries: Any) -> None:
    """Lock review_admin.load_lock in a transaction left open until the session closes
    (with the load, or the loader's death); LoadError naming the load that holds it."""
    async with _step("taking the load lock", None):
        await lock_session.execute("BEGIN")
        try:
            await queries.take_load_lock(lock_session)
            return
        except asyncpg.LockNotAvailableError:
            await lock_session.execute("ROLLBACK")
            holders = [row async for row in queries.load_lock_holders(lock_session)]
    raise LoadError(
        f"another load is running ({describe_sessions(holders)}); try again when it has finished"
    )


@asynccontextmanager
async def _step(
    doing: str,
    stream: TextIO | None,
    *,
    outcome: str = STILL_LIVE,
    lost_outcome: str | None = None,
) -> AsyncIterator[None]:
    """Time one step on `stream`, and turn a database failure into a LoadError naming it
    and saying which data is live after it (`outcome`; `lost_outcome` when the connection
    was lost)."""
    started = time.perf_counter()
    try:
        yield
    except LOST_CONNECTION as error:
        raise LoadError(
            f"lost the connection to PostgreSQL while {doing} ({error}); {lost_outcome or outcome}"
        ) from error
    except asyncpg.PostgresError as error:
        raise LoadError(f"{doing} failed: {_postgres_reason(error)}; {outcome}") from error
    if stream is not None:
        print(f"{doing}: {time.perf_counter() - started:.1f} s", file=stream, flush=True)


def _postgres_reason(error: asyncpg.PostgresError) -> str:
    """The server's message, its detail when it says which value, and a hint for the
    errors an operator can fix (the database is not migrated)."""
    reason = str(error.args[0]) if error.args else type(error).__name__
    detail = getattr(error, "detail", None)
    if detail and not detail.startswith("Failing row contains"):  # that one is the whole row
        reason += f" ({detail})"
    if isinstance(error, asyncpg.UniqueViolationError):
        reason += "; the source's index column must be unique"
    if isinstance(
        error,
        asyncpg.UndefinedFunctionError
        | asyncpg.InvalidSchemaNameError
        | asyncpg.UndefinedTableError,
    ):
        reason += "; is the database migrated? run `reviews-api migrate` first"
    return reason


async def _copy_rows(
    connection: asyncpg.Connection,
    source: Source,
    progress: Progress,
    rejects: RejectsFile | None,
) -> int:
    """COPY every batch of `source` into the staging table; the number of rows copied."""
    copied = 0

    def count(rows: int) -> bool:
        nonlocal copied
        copied += rows
        progress.rows("copied", copied)
        return True

    await _copy_batches(connection, source, count, rejects)
    _check_not_empty(source, copied)
    progress.rows_done("copied", copied)
    return copied


def _check_not_empty(source: Source, copied: int) -> None:
    if copied == 0:
        raise LoadError(f"{source.path} holds no reviews, and a load replaces all; {STILL_LIVE}")


async def _copy_batches(
    connection: asyncpg.Connection,
    source: Source,
    copied: Callable[[int], bool],
    reject: Reject | None,
) -> int:
    """COPY the batches of `source` into the staging table, calling `copied` with the rows
    of each; stop early when it returns False. Bad rows go to `reject` when given. The
    number of rows copied."""
    total = 0
    async with aclosing(_read_ahead(source.batches(reject))) as batches:
        async for batch in batches:
            if not batch:  # every row of it was bad, and skipped
                continue
            try:
                await connection.copy_records_to_table(
                    STAGING_TABLE, schema_name=STAGING_SCHEMA, columns=COLUMNS, records=batch
                )
            except LOST_CONNECTION as error:
                raise LoadError(
                    f"lost the connection to PostgreSQL while copying rows ({error}); {STILL_LIVE}"
                ) from error
            except asyncpg.PostgresError as error:
                raise LoadError(_rejected(source, batch, error)) from error
            except (TypeError, ValueError, OverflowError) as error:
                # Encoding failed before PostgreSQL saw the row (e.g. beyond 64-bit integers).
                raise LoadError(
                    f"{_batch_span(source, batch)}: a value cannot be sent to PostgreSQL "
                    f"({error}); {STILL_LIVE}"
                ) from error
            total += len(batch)
            if not copied(len(batch)):
                break
    return total


async def _copy_in_processes(
    connection: asyncpg.Connection,
    source: Source,
    parts: list[Source],
    database_url: str,
    progress: Progress,
    rejects: RejectsFile | None,
) -> int:
    """COPY the parts of `source` side by side: the first here on `connection`, each other
    one read and copied by a process of its own (spawned: this process has threads, which
    fork does not copy safely). The number of rows copied. The first failure stops the
    others (after their current batch) and is raised. Each process lists its bad rows in a
    file of its own, appended to `rejects` in the parts' order at the end."""
    progress.say(f"copying in {len(parts)} processes, one part of {source.path.name} each")
    context = multiprocessing.get_context("spawn")
    copied = context.Value("q", 0)  # rows copied by all processes, for progress lines
    stop = context.Event()
    loop = asyncio.get_running_loop()

    def count(rows: int) -> bool:
        with copied.get_lock():
            copied.value += rows
        return not stop.is_set()

    try:
        with ProcessPoolExecutor(
            len(parts) - 1,
            mp_context=context,
            initializer=_start_copy_process,
            initargs=(copied, stop, os.getpid()),
        ) as processes:
            part_rejects = [
                None if rejects is None else rejects.part_path(number)
                for number in range(1, len(parts))
            ]
            copies: list[asyncio.Future[int]] = [
                loop.run_in_executor(processes, _copy_part, part, database_url, part_path)
                for part, part_path in zip(parts[1:], part_rejects, strict=True)
            ]
            copies.append(
                asyncio.ensure_future(_copy_batches(connection, parts[0], count, rejects))
            )
            try:
                waiting = set(copies)
                while waiting:
                    done, waiting = await asyncio.wait(
                        waiting, timeout=PROGRESS_POLL_S, return_when=asyncio.FIRST_EXCEPTION
                    )
                    for copy in done:
                        copy.result()  # the LoadError (or SourceError) of a failed part
                    if copied.value:
                        progress.rows("copied", copied.value)
            except BaseException:
                stop.set()
                for copy in copies:
                    copy.cancel()
                raise
    except BrokenProcessPool as error:
        raise LoadError(f"a process copying rows ended abruptly ({error}); {STILL_LIVE}") from error
    finally:
        if rejects is not None:
            rejects.append_parts(part_rejects)
    total = sum(copy.result() for copy in copies)
    _check_not_empty(source, total)
    progress.rows_done("copied", total)
    return total


# In a copying process: the shared row counter and stop flag (set by _start_copy_process).
_copy_process_state: tuple[Any, Any] | None = None


def _start_copy_process(copied: Any, stop: Any, loader_pid: int) -> None:
    """Runs first in each copying process: keep the shared state, and (Linux) ask to be
    killed when the loader's process ends, so that a killed loader leaves no copy running."""
    global _copy_process_state  # one per process, set once
    _copy_process_state = (copied, stop)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != loader_pid:  # the loader ended before prctl: nobody to work for
            os._exit(1)


def _copy_part(part: Source, database_url: str, rejects_path: Path | None) -> int:
    """In a copying process: COPY the rows of `part`; the number copied. Bad rows are
    listed in `rejects_path` when given (skipped), else the first one fails the part."""
    if rejects_path is None:
        return asyncio.run(_copy_part_on_new_connection(part, database_url, None))
    with RejectsFile(rejects_path) as rejects:
        return asyncio.run(_copy_part_on_new_connection(part, database_url, rejects))


async def _copy_part_on_new_connection(
    part: Source, database_url: str, rejects: RejectsFile | None
) -> int:
    assert _copy_process_state is not None, "runs in a process started by _copy_in_processes"
    copied, stop = _copy_process_state

    def count(rows: int) -> bool:
        with copied.get_lock():
            copied.value += rows
        return not stop.is_set()

    connection = await _connect(database_url)
    try:
        return await _copy_batches(connection, part, count, rejects)
    finally:
        await _close(connection)


async def _build_indexes(sessions: list[asyncpg.Connection], queries: Any) -> None:
    """Build the live table's indexes on the staged rows, each session taking the next
    index (largest first) as soon as it is free. Database errors propagate to the step."""
    waiting = [str(row["index_name"]) async for row in queries.staging_indexes(sessions[0])]
    await _share_out(
        sessions,
        [functools.partial(queries.build_staging_index, index_name=name) for name in waiting],
    )


async def _stage_rollups(
    sessions: list[asyncpg.Connection],
    queries: Any,
    stream: TextIO | None,
    progress: Progress,
    options: LoadOptions,
) -> None:
    """The rollups (migration 0012) of the staged reviews, once these are vacuumed (their
    covering indexes are read in order): for each entity, filled, indexed and vacuumed, each
    job on the first session free once the entity's previous jobs are done (the product
    rollups, smaller, are indexed while the reviewer rollups are still being filled); then
    all-visible like the staged reviews, before the publish swaps them in with them."""
    connection = sessions[0]
    async with _step("building, indexing and vacuuming the rollups", stream):
        indexes = [
            (str(row["entity"]), str(row["index_name"]))
            async for row in queries.staging_rollup_indexes(connection)
        ]
        entities = ("reviewer", "product")  # the larger first
        filled = {entity: asyncio.Event() for entity in entities}
        indexed = {entity: [name for e, name in indexes if e == entity] for entity in entities}
        vacuums = {
            "product": queries.vacuum_staging_product_rollups,
            "reviewer": queries.vacuum_staging_reviewer_rollups,
        }

        async def fill(session: asyncpg.Connection, entity: str) -> None:
            await queries.stage_rollups(session, entity=entity)
            filled[entity].set()

        async def index(session: asyncpg.Connection, entity: str, name: str) -> None:
            await filled[entity].wait()
            await queries.build_staging_rollup_index(session, index_name=name)
            indexed[entity].remove(name)

        async def vacuum(session: asyncpg.Connection, entity: str) -> None:
            await filled[entity].wait()
            while indexed[entity]:  # built by the other sessions meanwhile
                await asyncio.sleep(0.1)
            await vacuums[entity](session)

        jobs: list[Callable[[asyncpg.Connection], Any]] = [
            functools.partial(fill, entity=entity) for entity in entities
        ]
        # The product rollups' indexes first: they are ready first.
        for entity in ("product", "reviewer"):
            jobs += [
                functools.partial(index, entity=entity, name=name)
                for e, name in indexes
                if e == entity
            ]
        jobs += [functools.partial(vacuum, entity=entity) for entity in ("product", "reviewer")]
        await _share_out(sessions, jobs)
        rollups_end_xid = str(await queries.copy_end_xid(connection))
        await _readers_permitting(
            wait_until_all_visible(
                connection,
                _RollupVisibility(queries),
                rollups_end_xid,
                options.wait_s,
                progress.say,
            )
        )


@dataclass(frozen=True)
class _RollupVisibility:
    """The queries wait_until_all_visible asks about the staged reviews, asked about the
    staged rollups instead."""

    queries: Any

    def staging_visibility(self, connection: asyncpg.Connection) -> Any:
        return self.queries.staging_rollups_visibility(connection)

    def snapshot_holders(self, connection: asyncpg.Connection, **arguments: Any) -> Any:
        return self.queries.snapshot_holders(connection, **arguments)

    def revacuum_staging_table(self, connection: asyncpg.Connection) -> Any:
        return self.queries.revacuum_staging_rollups(connection)


async def _share_out(
    sessions: list[asyncpg.Connection], jobs: list[Callable[[asyncpg.Connection], Any]]
) -> None:
    """Run each job (awaited with a session) on the first session free, in order. Database
    errors propagate to the step."""
    waiting = list(jobs)

    async def build_on(session: asyncpg.Connection) -> None:
        while waiting:
            await waiting.pop(0)(session)

    builders = [asyncio.create_task(build_on(session)) for session in sessions]
    try:
        await asyncio.gather(*builders)
    finally:
        for builder in builders:  # one failed: the others' work is pointless
            builder.cancel()
        await asyncio.gather(*builders, return_exceptions=True)


async def _read_ahead(batches: Batches) -> AsyncGenerator[list[Review], None]:
    """The batches, each next one read in a worker thread while the caller copies the
    current one. One thread, so a SQLite connection stays in the thread that opened it."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-source") as reader:
        upcoming = loop.run_in_executor(reader, next, batches, None)
        try:
            while (batch := await upcoming) is not None:
                upcoming = loop.run_in_executor(reader, next, batches, None)
                yield batch
        finally:
            upcoming.cancel()  # the caller gave up: nobody wants that batch (or its error)
            # Runs after any read in flight (one thread, in order); closes the source's file.
            await loop.run_in_executor(reader, batches.close)


def _rejected(source: Source, batch: list[Review], error: asyncpg.PostgresError) -> str:
    """PostgreSQL refused a row: name it from the COPY's "line N" (the batch's N-th row)."""
    context = getattr(error, "context", None) or ""
    marker = f"COPY {STAGING_TABLE}, line "
    where = _batch_span(source, batch)
    if marker in context:
        number = context.split(marker, 1)[1].split(",", 1)[0].split(":", 1)[0]
        if number.isdigit() and 1 <= int(number) <= len(batch):
            where = source.location(batch[int(number) - 1])
    return f"{where}: PostgreSQL rejected the row: {_postgres_reason(error)}; {STILL_LIVE}"


def _batch_span(source: Source, batch: list[Review]) -> str:
    return f"{source.location(batch[0])} to {source.location(batch[-1]).rsplit(': ', 1)[-1]}"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (flat memory)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


# --- SQLite --------------------------------------------------------------------------------


def load_into_sqlite(
    source: Path,
    target: Path,
    *,
    progress: TextIO | None = None,
    options: LoadOptions | None = None,
) -> LoadReport:
    """Write `target`, a SQLite file of the original schema with the development indexes,
    from the rows of `source`; the target is replaced only once complete."""
    started = time.perf_counter()
    options = options or LoadOptions()
    reader = _open(source)
    if target.resolve() == source.resolve() or (target.exists() and target.samefile(source)):
        raise LoadError(f"{target} is the source itself; write the SQLite file elsewhere")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same directory, so os.replace is an atomic rename; the pid keeps concurrent runs apart.
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    scratch.unlink(missing_ok=True)
    try:
        with _rejects_file(options) as rejects:
            rows = _write_sqlite(reader, scratch, Progress(progress), rejects)
        with scratch.open("rb+") as file:  # synchronous=OFF skipped every fsync
            os.fsync(file.fileno())
        os.replace(scratch, target)
    except SourceError as error:
        raise LoadError(f"{error}; {target} is unchanged") from error
    except sqlite3.Error as error:
        raise LoadError(f"writing {target} failed: {error}; {target} is unchanged") from error
    finally:
        scratch.unlink(missing_ok=True)
    return LoadReport(
        source,
        f"SQLite file {target}",
        rows,
        time.perf_counter() - started,
        rejected=None if rejects is None else rejects.count,
        rejects=options.rejects,
    )


def _write_sqlite(
    source: Source, path: Path, progress: Progress, rejects: RejectsFile | None
) -> int:
    queries = sqlite_queries()
    connection = sqlite3.connect(path)
    try:
        queries.prepare_scratch_file(connection)
        connection.executescript(migrations_dir("sqlite", "schema.sql").read_text())
        written = 0
        for batch in source.batches(rejects):
            queries.insert_reviews(connection, batch)  # inside one implicit transaction
            written += len(batch)
            progress.rows("wrote", written)
        if written == 0:
            raise SourceError(f"{source.path} holds no reviews")
        # The original schema's index on "index" is not unique (pandas made it): check, as
        # the primary key of public.reviews does, that each row has its own.
        duplicated = queries.duplicated_index(connection)
        if duplicated is not None:
            raise SourceError(
                f"{source.path}: index={duplicated!r} is on more than one row; the source's "
                "index column must be unique"
            )
        connection.commit()
        progress.rows_done("wrote", written)
        connection.executescript(migrations_dir("sqlite", "indexes.sql").read_text())
        progress.say("built the development indexes")
    finally:
        connection.close()
    return written


def index_sqlite(path: Path) -> None:
    """Add the development indexes (migrations/sqlite/indexes.sql) to an existing SQLite
    file of the original schema. Idempotent: the indexes are created only if missing."""
    if not path.is_file():
        raise LoadError(f"{path} does not exist; give an existing SQLite file")
    try:
        if not is_sqlite_file(path):
            raise LoadError(f"{path} is not a SQLite database")
        connection = sqlite3.connect(path_uri(path, "rw"), uri=True)
        try:
            check_review_table(connection, path)
            connection.executescript(migrations_dir("sqlite", "indexes.sql").read_text())
        finally:
            connection.close()
    except SourceError as error:
        raise LoadError(str(error)) from error
    except sqlite3.Error as error:
        raise LoadError(f"{path}: adding the indexes failed: {error}") from error


def _open(source: Path) -> Source:
    try:
        return open_source(source)
    except SourceError as error:
        raise LoadError(str(error)) from error
