"""Prometheus metrics, aggregated over all Sanic workers.

Workers are separate processes, so each writes its samples to memory-mapped files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode; `reviews-api serve` makes
a fresh directory for each start) and whichever worker answers /metrics sums them all.
Without that variable (e.g. the app run by another launcher) the figures are the answering
process's own.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service import __version__
from service.http.response_cache import ResponseCache
from service.store.database import PoolStats

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Request latency buckets from 0.5 ms (a cached answer) to 10 s (a timed-out query).
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    """The service's metrics; one instance per process, made by the app factory."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "reviews_api_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "reviews_api_request_duration_seconds",
            "Time from request received to response ready, by route template and status.",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.query_seconds = Histogram(
            "reviews_api_db_query_duration_seconds",
            "Database query time by query name (queries/<dialect>/*.sql).",
            ["query"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.pool_size = _live_gauge("reviews_api_db_pool_size", "Open database connections.")
        self.pool_in_use = _live_gauge("reviews_api_db_pool_in_use", "Connections running a query.")
        self.pool_waiting = _live_gauge(
            "reviews_api_db_pool_waiting", "Queries waiting for a free connection."
        )
        self.cache_entries = _live_gauge(
            "reviews_api_response_cache_entries", "Answers held in the response caches."
        )
        self.cache_bytes = _live_gauge(
            "reviews_api_response_cache_bytes", "Approximate bytes held in the response caches."
        )
        self.listening = _live_gauge(
            "reviews_api_load_listener_up",
            "Workers listening for new loads (each caches only while it listens).",
        )
        for gauge in (
            self.pool_size,
            self.pool_in_use,
            self.pool_waiting,
            self.cache_entries,
            self.cache_bytes,
            self.listening,
        ):
            registry.register(gauge)
        self.cache_lookups = Counter(
            "reviews_api_response_cache_lookups_total",
            "Response cache lookups by result (hit or miss), while the cache is serving.",
            ["result"],
            registry=registry,
        )
        self._counted_lookups = {"hit": 0, "miss": 0}
        self.queue_refused = Counter(
            "reviews_api_db_queue_refused_total",
            "Requests answered 503 overloaded: the line for a database connection was full "
            "(DB_QUEUE_MAX) or the wait ran out (DB_QUEUE_WAIT_MS).",
            ["reason"],
            registry=registry,
        )
        self._counted_refusals = {"full": 0, "slow": 0}
        self.query_retries = Counter(
            "reviews_api_db_query_retries_total",
            "Queries run a second time, never shown to the client, by reason "
            "(recovery_conflict: a standby cancelled the first to replay a change).",
            ["reason"],
            registry=registry,
        )
        self.data_load_id = Gauge(
            "reviews_api_data_load_id",
            "Load id (data version) of the data being served; 0 on SQLite.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.data_loaded_at = Gauge(
            "reviews_api_data_loaded_timestamp_seconds",
            "When the data being served went live (Unix time); 0 when unknown.",
            registry=registry,
            multiprocess_mode="max",
        )
        build_info = Gauge(
            "reviews_api_build_info",
            "Always 1; the labels name the running build.",
            ["version"],
            registry=registry,
            multiprocess_mode="max",
        )
        build_info.labels(version=__version__).set(1)
        # Label children by label values (the label sets are few: routes x methods x statuses).
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._query_children: dict[str, Any] = {}

    def observe_request(self, fields: dict[str, Any]) -> None:
        key = (fields["route"], fields["method"], fields["status"])
        children = self._request_children.get(key)
        if children is None:  # .labels() costs more than the update: look it up once
            status = str(fields["status"])
            children = self._request_children[key] = (
                self.requests.labels(fields["route"], fields["method"], status),
                self.request_seconds.labels(fields["route"], status),
            )
        children[0].inc()
        children[1].observe(fields["duration_ms"] / 1000)

    def observe_query(self, query_name: str, seconds: float) -> None:
        child = self._query_children.get(query_name)
        if child is None:
            child = self._query_children[query_name] = self.query_seconds.labels(query_name)
        child.observe(seconds)

    def count_retry(self, reason: str) -> None:
        """Counted as it happens: retries are rare (a load's replay on a standby)."""
        self.query_retries.labels(reason).inc()

    def observe_pool(self, stats: PoolStats) -> None:
        self.pool_size.set(stats.size)
        self.pool_in_use.set(stats.in_use)
        self.pool_waiting.set(stats.waiting)
        for reason, total in (("full", stats.refused_full), ("slow", stats.refused_slow)):
            if total > self._counted_refusals[reason]:
                self.queue_refused.labels(reason).inc(total - self._counted_refusals[reason])
                self._counted_refusals[reason] = total

    def observe_cache(self, cache: ResponseCache, listening: bool) -> None:
        """Sampled like the pool: the cache counts its own lookups (no metric update per
        request), and the counters get what was added since the last sample."""
        self.cache_entries.set(len(cache))
        self.cache_bytes.set(cache.bytes)
        self.listening.set(1 if listening else 0)
        for result, total in (("hit", cache.hits), ("miss", cache.misses)):
            if total > self._counted_lookups[result]:
                self.cache_lookups.labels(result).inc(total - self._counted_lookups[result])
                self._counted_lookups[result] = total

    def observe_data(self, version: str, loaded_at: float | None) -> None:
        self.data_load_id.set(int(version) if version.isdigit() else 0)
        self.data_loaded_at.set(loaded_at or 0)

    def exposition(self) -> tuple[bytes, str]:
        """The text format, summed over every worker when running multiprocess."""
        if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            return generate_latest(combined), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _live_gauge(name: str, documentation: str) -> Gauge:
    # livesum: the sum over the workers alive now (a dead worker's connections are gone).
    return Gauge(name, documentation, registry=None, multiprocess_mode="livesum")


def worker_stopped(pid: int) -> None:
    """Forget a stopped worker's live gauges (its counters and histograms stay summed)."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
