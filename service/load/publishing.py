"""The two moments a PostgreSQL load waits for readers, each bounded in time.

1. Before publishing, the staged rows must be all-visible: otherwise the covering indexes'
   index-only scans fall back to reading the table, and nothing would repair it later
   (autovacuum does not visit a table without dead rows). VACUUM cannot mark a page
   all-visible while a snapshot older than its rows exists (a BI session's REPEATABLE
   READ transaction, pg_dump, a standby's hot_standby_feedback), so the loader checks
   `relallvisible` against `relpages`, names the sessions holding such a snapshot, waits
   and vacuums again, and gives up after the wait bound.

2. The swap (review_admin.publish_staging_table) needs ACCESS EXCLUSIVE locks, and queries
   arriving while it waits for them queue behind it. So it waits at most 200 ms per
   attempt (the procedure's lock_timeout, below deadlock_timeout); this module retries
   with growing pauses in between, during which queries run freely, and gives up after
   the wait bound, naming the sessions that held the tables. Each attempt is a
   transaction the loader commits itself: a loader killed before its COMMIT never
   publishes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

# Pauses between two attempts: doubling from FIRST_PAUSE_S to MAX_PAUSE_S, +-20% so that
# two waiting loaders never beat in step. Short first: a reader that just ended is seen
# at once; long later: a waiting publish then costs queries at most one 200 ms wait
# every couple of seconds.
FIRST_PAUSE_S = 0.1
MAX_PAUSE_S = 2.0
VACUUM_FIRST_PAUSE_S = 0.5
VACUUM_MAX_PAUSE_S = 5.0
# Failures of one attempt that a later attempt may not meet: the lock wait ran out, or
# the deadlock detector chose the swap (only when deadlock_timeout is below 400 ms).
RETRIED_ERRORS = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError)


class ReadersInTheWay(Exception):
    """The wait bound passed while readers still held what the load needs; the message
    names them."""


def describe_session(row: Any) -> str:
    """pid, user, application, state and since when, of a pg_stat_activity row; what the
    login may not see (another role's session, without pg_read_all_stats) is left out."""
    parts = [f"pid {row['pid']}"]
    if row["usename"] is not None:
        parts.append(f"user {row['usename']}")
    if row["application_name"]:
        parts.append(f"application {row['application_name']!r}")
    if row["state"] is not None:
        since = row["xact_start"] or row["backend_start"]
        parts.append(
            f"{row['state']} since {since:%Y-%m-%d %H:%M:%S %Z}"
            if isinstance(since, datetime)
            else str(row["state"])
        )
    return ", ".join(parts)


def describe_sessions(rows: list[Any]) -> str:
    return "; ".join(f"session {describe_session(row)}" for row in rows) or "no session seen"


def _pause(previous: float | None, first: float, most: float) -> float:
    """The next pause of a doubling back-off from `first` to `most`."""
    return first if previous is None else min(previous * 2, most)


async def wait_until_all_visible(
    connection: asyncpg.Connection,
    queries: Any,
    copy_end_xid: str,
    wait_s: float,
    say: Callable[[str], None],
) -> None:
    """Vacuum again until every page of the staged rows is all-visible; ReadersInTheWay
    naming the sessions with older snapshots after `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    pause: float | None = None
    while True:
        pages = await queries.staging_visibility(connection)
        if pages["relallvisible"] >= pages["relpages"]:
            return
        holders = [
            row async for row in queries.snapshot_holders(connection, copy_end_xid=copy_end_xid)
        ]
        state = (
            f"{pages['relallvisible']:,} of {pages['relpages']:,} pages of the staged rows "
            f"are all-visible; older snapshots are held by {describe_sessions(holders)}"
        )
        pause = _pause(pause, VACUUM_FIRST_PAUSE_S, VACUUM_MAX_PAUSE_S)
        if time.monotonic() + pause > deadline:
            raise ReadersInTheWay(
                f"{state}, after waiting {wait_s:g} s (--wait-timeout). Publishing now would "
                "leave the indexes without index-only scans; end those sessions (or raise "
                "--wait-timeout) and load again"
            )
        say(f"{state}; vacuuming again in {pause:.1f} s")
        await asyncio.sleep(pause)
        await queries.revacuum_staging_table(connection)


async def publish_with_retries(
    connection: asyncpg.Connection,
    queries: Any,
    wait_s: float,
    say: Callable[[str], None],
    before_each: Callable[[], Any],
    **arguments: Any,
) -> int:
    """Run review_admin.publish_staging_table until it gets its locks; the number of
    attempts. ReadersInTheWay naming the sessions holding the tables after `wait_s`
    seconds. `before_each()` (awaited) runs before every attempt."""
    deadline = time.monotonic() + wait_s
    pause: float | None = None
    attempts = 0
    while True:
        await before_each()
        attempts += 1
        try:
            async with connection.transaction():
                await queries.publish_staging_table(connection, **arguments)
        except RETRIED_ERRORS:
            holders = [row async for row in queries.publish_lock_holders(connection)]
        else:
            return attempts
        pause = _pause(pause, FIRST_PAUSE_S, MAX_PAUSE_S)
        if time.monotonic() + pause > deadline:
            raise ReadersInTheWay(
                f"could not lock the live tables in {attempts} attempts over {wait_s:g} s "
                f"(--wait-timeout): they are held by {describe_sessions(holders)}"
            )
        if attempts == 1 or attempts % 10 == 0:
            say(f"publishing waits for {describe_sessions(holders)} (attempt {attempts})")
        await asyncio.sleep(pause * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
