"""CPU cost per request of each per-request feature of the service, measured in process.

Calls the service's own functions (nothing is patched) in a loop and reports the CPU time
per call: `process` counts every thread of the process (the access log's writer thread
included), `loop` only the calling thread, the one that runs Sanic's event loop. Each
figure is the best of --repeat runs, so it is what the code costs on a quiet core; a busy
machine adds to every figure alike.

    .venv/bin/python scripts/bench/feature_costs.py [--database-url postgresql://...]

With --database-url (a database built by the migrations and loaded), it also compares the
data-access paths on one connection: asyncpg's fetchrow, the aiosql query function, and
the service's store (pool acquire/release, metrics observer, aiosql). scripts/benchmark
--profile runs it against its benchmark database.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# prometheus_client picks its storage when first imported: multiprocess, as `serve` runs it.
if "--single-process-metrics" not in sys.argv:
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="feature-costs-"))
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from service.catalog import load_catalog  # noqa: E402
from service.http.arguments import ArgumentParser  # noqa: E402
from service.http.bodies import BodyShaper  # noqa: E402
from service.http.caching import cache_policy, entity_tag, matches  # noqa: E402
from service.http.media_types import choose_media_type  # noqa: E402
from service.http.metrics import Metrics  # noqa: E402
from service.http.observability import (  # noqa: E402
    ACCESS_LOGGER,
    AccessLog,
    JsonLineHandler,
    LineWriter,
    RequestIds,
    access_fields,
    configure_logging,
)
from service.http.response_cache import CachedAnswer, ResponseCache  # noqa: E402

PRODUCT = load_catalog().endpoints[0]
PARSER = ArgumentParser(PRODUCT)
SHAPER = BodyShaper(PRODUCT)
ROW_BY_NAME = {
    "review_count": 1005,
    "average_rating": 4.167164179104478,
    **{f"rating_{n}": c for n, c in zip("12345", (85, 45, 97, 168, 610), strict=True)},
    "verified_review_count": 910,
    "helpful_votes": 885,
    "distinct_reviewers": 1001,
    "first_review_date": None,
    "last_review_date": None,
}
ROW = tuple(ROW_BY_NAME[column.name] for column in PRODUCT.columns)
QUERY_STRING = "from=2016-01-01&to=2016-12-31"
VALUES = ["B0128IL7TH", None, None]


def fake_request() -> Any:
    """What the middleware reads of a Sanic request."""
    return SimpleNamespace(
        ctx=SimpleNamespace(),
        headers={"accept": "*/*"},
        method="GET",
        route=SimpleNamespace(path=PRODUCT.sanic_path.lstrip("/")),
        remote_addr="",
        ip="127.0.0.1",
    )


def measure(work: Callable[[], None], calls: int, repeat: int) -> tuple[float, float]:
    """Best (process, loop-thread) CPU microseconds per call over `repeat` runs."""
    best_process = best_thread = float("inf")
    for _ in range(repeat):
        process, thread = time.process_time(), time.thread_time()
        for _ in range(calls):
            work()
        best_process = min(best_process, (time.process_time() - process) / calls * 1e6)
        best_thread = min(best_thread, (time.thread_time() - thread) / calls * 1e6)
    return best_process, best_thread


def logging_costs(calls: int, repeat: int) -> list[tuple[str, float, float]]:
    """The access line as the service writes it (orjson, queued, written by the writer
    thread in batches), against the same line through the logging module (a record, a
    formatter, the same writer): what the service used to do."""
    fields = access_fields(fake_request(), SimpleNamespace(status=200), "0" * 32)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        sink = (Path(directory) / "access.log").open("w")
        stdout, sys.stdout = sys.stdout, sink
        try:
            writer = configure_logging("INFO")
        finally:
            sys.stdout = stdout
        access_log = AccessLog(writer)
        logger = logging.getLogger(ACCESS_LOGGER)

        def through_logging() -> None:
            logger.info("%s %s %s", "GET", fields["route"], 200, extra=fields)

        for label, work in (
            (
                "access log line, as served (orjson + queue, batched writes)",
                lambda: access_log.write(fields),
            ),
            ("access log line through the logging module (for comparison)", through_logging),
        ):
            best = (float("inf"), float("inf"))
            for _ in range(repeat):
                process, thread = time.process_time(), time.thread_time()
                for _ in range(calls):
                    work()
                writer.stop()  # drains the queue: the writer thread's work is counted
                best = (
                    min(best[0], (time.process_time() - process) / calls * 1e6),
                    min(best[1], (time.thread_time() - thread) / calls * 1e6),
                )
                writer = _restart(writer, access_log, sink)
            results.append((label, *best))
        writer.stop()
        sink.close()
    logging.getLogger().handlers.clear()
    return results


def _restart(writer: LineWriter, access_log: AccessLog, sink: Any) -> LineWriter:
    """A fresh writer on the same sink, wired as configure_logging wires one."""
    fresh = LineWriter(sink)
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(JsonLineHandler(fresh))
    access_log._writer = fresh
    return fresh


def metrics_cost(calls: int, repeat: int) -> tuple[float, float]:
    """What the service records per request: one query duration, the request counter and
    histogram (pool and cache figures are sampled once a second, not per request)."""
    metrics = Metrics()
    fields = access_fields(fake_request(), SimpleNamespace(status=200), "0" * 32)

    def metrics_per_request() -> None:
        metrics.observe_query("product_review_summary", 0.0004)
        metrics.observe_request(fields)

    return measure(metrics_per_request, calls, repeat)


def pure_costs(calls: int, repeat: int) -> list[tuple[str, float, float]]:
    payload = orjson.dumps(SHAPER.body(VALUES, [ROW]))

    def validation() -> None:
        _, media_format = PARSER.parse({"product_id": "B0128IL7TH"}, QUERY_STRING)
        choose_media_type(media_format, "*/*")

    request_ids = RequestIds()

    def request_id_and_fields() -> None:
        access_fields(fake_request(), SimpleNamespace(status=200), request_ids.take(None))

    policy = cache_policy(max_age_s=60, private=False, vary="Accept")

    def etag() -> None:
        etag = entity_tag("1", payload)
        headers = {"ETag": etag, **policy}
        matches(None, headers["ETag"])

    cache = ResponseCache(20_000, 32 * 1024 * 1024)
    cache.start()
    key = (PRODUCT.name, "application/json", "B0128IL7TH", None, None)
    cache.put(key, CachedAnswer(payload, "application/json", entity_tag("1", payload)), 1)

    def cache_hit() -> None:
        cache.get(key)

    def body() -> None:
        orjson.dumps(SHAPER.body(VALUES, [ROW]))

    def baseline_body() -> None:
        orjson.dumps(ROW_BY_NAME)

    return [
        (
            "metrics: 1 query histogram + request counter and histogram",
            *metrics_cost(calls, repeat),
        ),
    ] + [
        (label, *measure(work, calls, repeat))
        for label, work in (
            ("validation: id, query string, dates, media type", validation),
            ("request id + access-log fields", request_id_and_fields),
            ("ETag (blake2b of the body) + cache headers", etag),
            ("response cache lookup (a hit)", cache_hit),
            ("response body: BodyShaper + orjson", body),
            ("baseline's body: orjson of the row", baseline_body),
        )
    ]


async def database_costs(url: str, calls: int, repeat: int) -> list[tuple[str, float, float]]:
    import asyncpg

    from service.settings import Settings
    from service.store.database import PostgresStore, create_pool, load_queries

    settings = Settings.from_env({"DATABASE_URL": url, "DB_POOL_MAX": "2"})
    queries = load_queries("postgres")
    connection = await asyncpg.connect(url)
    product_id = await connection.fetchval("SELECT product_id FROM review_api.reviews LIMIT 1")
    sql = queries.product_review_summary.sql
    pool = await create_pool(settings)  # the service's pool: reset hook disabled
    store = await PostgresStore.open(settings)
    store.observe_queries(Metrics().observe_query)

    async def fetchrow() -> None:
        await connection.fetchrow(sql, product_id, None, None)

    async def aiosql_call() -> None:
        await queries.product_review_summary(
            connection, product_id=product_id, date_from=None, date_to=None
        )

    async def pool_no_timeout() -> None:
        async with pool.acquire() as pooled:
            await pooled.fetchrow(sql, product_id, None, None)

    async def pool_timeout() -> None:
        pooled = await pool.acquire(timeout=settings.db_connect_timeout_s)
        try:
            await pooled.fetchrow(sql, product_id, None, None)
        finally:
            await pool.release(pooled)

    proxy = await pool.acquire()

    async def aiosql_dir() -> None:  # what aiosql's MaybeAcquire asks of every connection
        _ = "acquire" in dir(proxy)

    async def service_store() -> None:
        await store.summary(
            "product_review_summary",
            id_argument="product_id",
            entity_id=product_id,
            date_from=None,
            date_to=None,
        )

    results = []
    for label, work in (
        ("query: asyncpg fetchrow on one connection", fetchrow),
        ("query: aiosql function on one connection", aiosql_call),
        ("query: pool acquire() + fetchrow + release (the baseline)", pool_no_timeout),
        ("query: pool acquire(timeout=5) + fetchrow + release", pool_timeout),
        ("query: service store.summary (pool, asyncpg statement, observer)", service_store),
        ('aiosql\'s `"acquire" in dir(connection)` (why the store calls asyncpg)', aiosql_dir),
    ):
        for _ in range(200):
            await work()
        best = (float("inf"), float("inf"))
        for _ in range(repeat):
            process, thread = time.process_time(), time.thread_time()
            for _ in range(calls):
                await work()
            best = (
                min(best[0], (time.process_time() - process) / calls * 1e6),
                min(best[1], (time.thread_time() - thread) / calls * 1e6),
            )
        results.append((label, *best))
    await store.close()
    await pool.release(proxy)
    await pool.close()
    await connection.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a loaded reviews-api PostgreSQL database")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--single-process-metrics", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.single_process_metrics:
        print(f"{metrics_cost(arguments.calls, arguments.repeat)[0]:.2f}")
        return 0
    rows = pure_costs(arguments.calls, arguments.repeat)
    rows += logging_costs(arguments.calls, arguments.repeat)
    single = subprocess.run(  # noqa: S603 - this script, another storage mode of prometheus
        [
            *(sys.executable, __file__, "--single-process-metrics"),
            *("--calls", str(arguments.calls), "--repeat", str(arguments.repeat)),
        ],
        env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        capture_output=True,
        text=True,
        check=True,
    )
    rows.append(("metrics, if single-process (no mmap files)", float(single.stdout), 0.0))
    if arguments.database_url:
        calls = max(arguments.calls // 10, 500)
        rows += asyncio.run(database_costs(arguments.database_url, calls, arguments.repeat))
    out = io.StringIO()
    out.write("| per request | CPU µs, all threads | CPU µs, loop thread |\n|---|---:|---:|\n")
    for label, process_us, thread_us in rows:
        thread_text = f"{thread_us:.1f}" if thread_us else ""
        out.write(f"| {label} | {process_us:.1f} | {thread_text} |\n")
    print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
