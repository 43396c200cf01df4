"""A per-worker cache of finished data responses, valid for one data version.

Keyed by the normalized request (endpoint, decoded id, dates, media type: `?format=csv`
and `Accept: text/csv` share an entry), bounded by entries and by bytes, least recently
used out first. It only serves while the worker knows the data version is current, that
is while its LISTEN connection is up (service/http/data_version.py): `start()` empties
it for a new version, `stop()` empties and disables it when the notifications may be
missed. An answer computed under one generation is never stored into the next: a query
that read the old data cannot refill the cache after a load emptied it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

# What an entry costs beyond its payload: the key tuple, the entry object, the dict slot.
ENTRY_OVERHEAD_BYTES = 400


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A 200's exact bytes and ETag, or (payload None) a 404's detail."""

    payload: bytes | None
    content_type: str
    etag: str
    not_found_detail: str = ""
    link: str = ""  # a page's Link header (its next page)
    version: str = ""  # the data version it was computed from (the ETag's first half)

    @property
    def size(self) -> int:
        body = len(self.payload) if self.payload else len(self.not_found_detail)
        return body + len(self.etag) + len(self.link) + ENTRY_OVERHEAD_BYTES


class ResponseCache:
    """Least-recently-used entries, at most `max_entries` and about `max_bytes`."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self.bytes = 0
        self.generation = 0  # bumped on every start/stop
        self.serving = False
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> CachedAnswer | None:
        if not self.serving:
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, entry: CachedAnswer, generation: int) -> None:
        """Keep `entry` if it was computed under the current generation."""
        if not self.serving or generation != self.generation or entry.size > self.max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size

    def start(self) -> None:
        """Serve (empty) for a new data version, unless the cache is switched off."""
        self._reset()
        self.serving = self.max_entries > 0

    def stop(self) -> None:
        """Empty, and serve nothing until the next start."""
        self._reset()
        self.serving = False

    def _reset(self) -> None:
        self._entries.clear()
        self.bytes = 0
        self.generation += 1
