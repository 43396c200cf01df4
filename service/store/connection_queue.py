"""The bounded wait for a database connection: overload is answered at once, not queued.

Each worker runs at most DB_POOL_MAX queries at a time. A request that finds them all busy
waits in line, but only while fewer than DB_QUEUE_MAX requests are waiting and for at most
DB_QUEUE_WAIT_MS; beyond either it is refused with `Overloaded` (a 503 of its own, distinct
from "the database is unavailable"), so a busy worker sheds load in microseconds instead
of letting every request time out behind the pool.

The line is first come, first served; a slot freed by a finished query is handed to the
longest waiter directly, so nobody can overtake the line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib


class Overloaded(Exception):
    """Every connection is busy and the line for one is full or too slow: a 503 with
    Retry-After, telling the client the service is busy, not that the database is down."""


class ConnectionQueue:
    """`slots` queries at once; at most `max_waiting` more wait, each up to `max_wait_s`."""

    def __init__(self, slots: int, max_waiting: int, max_wait_s: float) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self._free = slots
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # Requests refused since start, by reason (sampled into metrics once a second).
        self.refused_full = 0
        self.refused_slow = 0

    @property
    def in_use(self) -> int:
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a free slot without waiting (no coroutine: the common case costs a test)."""
        if self._free:  # a free slot means nobody waits: a waiter is handed slots first
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting in line if need be; `Overloaded` when the line is full or
        the wait runs out. Every successful acquire must be matched by one `release`."""
        if self.try_acquire():
            return
        if len(self._waiters) >= self.max_waiting:
            self.refused_full += 1
            raise Overloaded(
                f"{len(self._waiters)} requests are already waiting for a database connection"
            )
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.max_wait_s, self._expire, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # handed a slot just as this request was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # already taken off by release()
                    self._waiters.remove(waiter)
            raise
        finally:
            timer.cancel()

    def release(self) -> None:
        """Give the slot to the longest waiter, or back to the free ones."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.refused_slow += 1
            waiter.set_exception(
                Overloaded(
                    f"no database connection came free within {self.max_wait_s * 1000:.0f} ms"
                )
            )
