"""Which data a worker is serving: the live load's id (the ETag's first half, the response
cache's validity) and when it went live (a metric).

On PostgreSQL each worker holds one connection outside its pool that LISTENs on
LOAD_CHANNEL, the notification the loader's switch transaction sends when it commits a
new load (migrations/postgres/0006): the version is known at once, no query per request,
and the response cache is emptied. While that connection is down the worker cannot know
when data changes: it stops caching, re-reads the version at most once every
VERSION_TTL_S, and reconnects; once listening again it re-reads the version and caches
again. On SQLite (development) nothing notifies: no cache, the version is re-read.
"""

from __future__ import annotations

import logging
import time

from service.http.metrics import Metrics
from service.http.response_cache import ResponseCache
from service.store.database import ReviewStore

# How long a worker trusts a version it read while it is not listening.
VERSION_TTL_S = 1.0
logger = logging.getLogger("reviews_api.data_version")


class DataVersion:
    """The worker's view of the live load; `changed`/`lost` are the store's callbacks."""

    def __init__(self, store: ReviewStore, cache: ResponseCache, metrics: Metrics) -> None:
        self._store = store
        self._cache = cache
        self._metrics = metrics
        self._version = ""
        self._read_at = float("-inf")
        self.listening = False

    async def current(self) -> str:
        """The live load's id: as last notified, or re-read when it may be stale."""
        if not self.listening and time.monotonic() - self._read_at > VERSION_TTL_S:
            version, loaded_at = await self._store.current_load()
            self._remember(version, loaded_at)
        return self._version

    async def watch(self) -> None:
        """Follow the loads until cancelled (returns at once where nothing notifies)."""
        await self._store.watch_loads(self.changed, self.lost)

    def changed(self, version: str, loaded_at: float | None) -> None:
        """The listener is up and `version` is live: cache afresh for it."""
        if not self.listening or version != self._version:
            logger.info("serving data version %s", version)
            self._cache.start()
        self.listening = True
        self._remember(version, loaded_at)

    def lost(self, reason: str) -> None:
        """Notifications may be missed from now on: stop caching until listening again."""
        if self.listening:
            logger.warning("not listening for new loads, response cache off: %s", reason)
        self.listening = False
        self._read_at = float("-inf")
        self._cache.stop()

    def _remember(self, version: str, loaded_at: float | None) -> None:
        self._version = version
        self._read_at = time.monotonic()
        self._metrics.observe_data(version, loaded_at)
