"""The SQLite store's connections: DB_POOL_MAX read-only connections, each reading in a
thread of its own so that concurrent requests do not queue behind one another, all
closed with the store (no thread left to keep a stopped worker alive)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from service.store.database import SQLiteStore


def test_the_connections_answer_together_and_close_with_the_store(own_sqlite_file: Path) -> None:
    async def scenario() -> None:
        threads_before = threading.active_count()
        store = await SQLiteStore.open(own_sqlite_file, connections=3)
        try:
            assert threading.active_count() == threads_before + 3
            loads = await asyncio.gather(*(store.current_load() for _ in range(7)))
            assert len(set(loads)) == 1
            stats = store.pool_stats()
            assert (stats.size, stats.in_use, stats.waiting) == (3, 0, 0)
        finally:
            await store.close()
        assert threading.active_count() == threads_before

    asyncio.run(scenario())
