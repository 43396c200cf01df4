"""Which data a worker is serving: the live load's id (the ETag's first half, the response
cache's validity) and when it went live (a metric).

On PostgreSQL each worker holds one connection outside its pool that LISTENs on
LOAD_CHANNEL, the notification the loader's switch transaction sends when it commits a
new load (migrations/postgres/0006), on the primary (LISTEN_DATABASE_URL). The primary's
word is not the worker's data, though: its read database (DATABASE_URL) may be a standby
that has not replayed the load yet. So a notification only *announces* a version; the
worker then reads the live load through its pool, from the read database, every
POLL_FIRST_S to POLL_MAX_S until that shows the announced version, and only then switches
(and empties its response cache). Until then it keeps serving, and caching, the version
its read database has. An answer read from a newer version than the one served (its
statement says which, service/store/database.py) also proves the read database has it,
and starts that poll at once.

While the listening connection is down the worker cannot know when data changes: it
stops caching, re-reads the version at most once every VERSION_TTL_S, and reconnects;
once listening again it caches again. On SQLite (development) nothing notifies: no
cache, the version is re-read.
"""

from __future__ import annotations

import asyncio
import logging
import time

from service.http.metrics import Metrics
from service.http.response_cache import ResponseCache
from service.store.database import DatabaseUnavailable, ReviewStore

# How long a worker trusts a version it read while it is not listening.
VERSION_TTL_S = 1.0
# After a notification, how soon and then how often at most the read database is asked
# whether it has the announced load: the delay doubles from the first to the last, so a
# standby that replays at once is seen within milliseconds, and one held back for minutes
# costs a small query per worker every POLL_MAX_S. POLL_MAX_S bounds the switch window:
# a worker serves a load at most that long (plus one query) after its read database has it.
POLL_FIRST_S = 0.005
POLL_MAX_S = 0.1
logger = logging.getLogger("reviews_api.data_version")


def newer(version: str, than: str) -> bool:
    """True when load `version` came after `than`: load ids are increasing integers; other
    versions (SQLite's, a client's made-up tag, none yet) are never compared."""
    return version.isdigit() and than.isdigit() and int(version) > int(than)


class DataVersion:
    """The worker's view of the live load; `changed`/`lost` are the store's callbacks."""

    def __init__(self, store: ReviewStore, cache: ResponseCache, metrics: Metrics) -> None:
        self._store = store
        self._cache = cache
        self._metrics = metrics
        self._version = ""  # what the read database had when last asked: served
        self._announced = ""  # what the primary last said is live
        self._announced_at = 0.0
        self._read_at = float("-inf")
        self._cached_version: str | None = None  # the version the cache was started for
        self._poll: asyncio.Task[None] | None = None
        self.listening = False

    async def current(self) -> str:
        """The version this worker serves: its read database's, as last seen; re-read
        when it may be stale (not listening) or not known yet (starting)."""
        if (not self.listening or not self._version) and (
            time.monotonic() - self._read_at > VERSION_TTL_S
        ):
            version, loaded_at = await self._store.current_load()
            self._remember(version, loaded_at)
        return self._version

    @property
    def served(self) -> str:
        """The version served, as last known (no query)."""
        return self._version

    async def watch(self) -> None:
        """Follow the loads until cancelled (returns at once where nothing notifies)."""
        try:
            await self._store.watch_loads(self.changed, self.lost)
        finally:
            if self._poll is not None:
                self._poll.cancel()

    def changed(self, version: str, loaded_at: float | None) -> None:
        """The listener is up and the primary says `version` is live: serve it once the
        read database has it (at once when it is the version already served)."""
        self.listening = True
        if version != self._announced:
            self._announced, self._announced_at = version, time.monotonic()
        if version == self._version:
            self._start_cache()
        else:
            self._poll_read_database()

    def seen(self, version: str) -> None:
        """An answer was read from `version`: when newer than the one served, the read
        database has it; switch as soon as the poll confirms (it reads the load time)."""
        if self.listening and newer(version, self._version):
            self._poll_read_database()

    def lost(self, reason: str) -> None:
        """Notifications may be missed from now on: stop caching until listening again."""
        if self.listening:
            logger.warning("not listening for new loads, response cache off: %s", reason)
        self.listening = False
        self._read_at = float("-inf")
        self._cached_version = None
        self._cache.stop()

    def _poll_read_database(self) -> None:
        if self._poll is None or self._poll.done():
            self._poll = asyncio.get_running_loop().create_task(self._follow_read_database())

    async def _follow_read_database(self) -> None:
        """Read the live load from the read database until it is the announced one (or a
        newer one: a load committed since), switching to each version it shows."""
        delay = POLL_FIRST_S
        while self.listening:
            try:
                version, loaded_at = await self._store.current_load()
            except DatabaseUnavailable as error:
                logger.debug("reading the live load failed: %s", error)
            else:
                if version != self._version and not newer(self._version, version):
                    self._remember(version, loaded_at)
                if version == self._version:  # or read by current() meanwhile
                    self._start_cache()
                if self._version and not newer(self._announced, self._version):
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    def _start_cache(self) -> None:
        """Cache afresh for the version served, unless already caching for it."""
        if self.listening and self._cached_version != self._version:
            # duration_ms: the switch window, from the notification to the read database
            # showing the load (0 when the worker served it already: listening again).
            after_ms = 0.0
            if self._version == self._announced:
                after_ms = round((time.monotonic() - self._announced_at) * 1000, 1)
            logger.info("serving data version %s", self._version, extra={"duration_ms": after_ms})
            self._cached_version = self._version
            self._cache.start()

    def _remember(self, version: str, loaded_at: float | None) -> None:
        self._version = version
        self._read_at = time.monotonic()
        self._metrics.observe_data(version, loaded_at)
