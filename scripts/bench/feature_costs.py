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

from service.caching import cache_headers, entity_tag, matches  # noqa: E402
from service.catalog import ENDPOINTS  # noqa: E402
from service.database import PoolStats  # noqa: E402
from service.metrics import Metrics  # noqa: E402
from service.observability import (  # noqa: E402
    ACCESS_LOGGER,
    JsonFormatter,
    access_fields,
    configure_logging,
    start_request,
)
from service.parameters import parse_entity_id, parse_period, parse_query_arguments  # noqa: E402
from service.representations import choose_media_type  # noqa: E402
from service.responses import summary_body  # noqa: E402

PRODUCT = ENDPOINTS[0]
ROW = {
    "review_count": 1005,
    "average_rating": 4.167164179104478,
    **{f"rating_{n}": c for n, c in zip("12345", (85, 45, 97, 168, 610), strict=True)},
    "verified_review_count": 910,
    "helpful_votes": 885,
    "distinct_reviewers": 1001,
    "first_review_date": None,
    "last_review_date": None,
}
QUERY_STRING = "from=2016-01-01&to=2016-12-31"
PACE_S = 0.0005


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


# (label, LOG_LEVEL, handler set-up, paced): the service's set-up and two alternatives.
LOGGING_CASES = (
    ("access log line, as served (queue + writer thread)", "INFO", "queue", False),
    ("access log line, as served, one line per pause", "INFO", "queue", True),
    ("access log line, written on the loop (no queue)", "INFO", "direct", False),
    ("access log line, written on the loop, one line per pause", "INFO", "direct", True),
    ("access log line, LOG_LEVEL=WARNING (filtered out)", "WARNING", "queue", False),
    ("(the pause alone, subtracted from the paced lines)", "WARNING", "queue", True),
)


def logging_costs(calls: int, repeat: int) -> list[tuple[str, float, float]]:
    """Back to back, the writer thread drains many lines per wake-up; paced (a PACE_S pause
    after each line, as requests come in) it wakes once per line: futex, context switch, GIL.
    Paced figures are net of the pause's own cost."""
    fields = access_fields(_started(), SimpleNamespace(status=200))
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for label, level, setup, paced in LOGGING_CASES:
            count = max(calls // 10, 200) if paced else calls
            best = (float("inf"), float("inf"))
            for _ in range(repeat):
                sink = (Path(directory) / "access.log").open("w")
                stdout, sys.stdout = sys.stdout, sink
                try:
                    listener = configure_logging(level)
                finally:
                    sys.stdout = stdout
                if setup == "direct":
                    listener.stop()
                    root = logging.getLogger()
                    root.handlers.clear()
                    writer = logging.StreamHandler(sink)
                    writer.setFormatter(JsonFormatter())
                    root.addHandler(writer)
                logger = logging.getLogger(ACCESS_LOGGER)
                process, thread = time.process_time(), time.thread_time()
                for _ in range(count):
                    logger.info("%s %s %s", "GET", fields["route"], 200, extra=fields)
                    if paced:
                        time.sleep(PACE_S)
                loop_us = (time.thread_time() - thread) / count * 1e6
                if setup != "direct":
                    listener.stop()  # drains the queue: the writer thread's work is counted
                process_us = (time.process_time() - process) / count * 1e6
                sink.close()
                best = (min(best[0], process_us), min(best[1], loop_us))
            results[label] = best
    logging.getLogger().handlers.clear()
    pause = results.pop(LOGGING_CASES[-1][0])
    return [
        (
            label.replace("per pause", f"every {PACE_S * 1e3:g} ms") if paced else label,
            results[label][0] - (pause[0] if paced else 0),
            results[label][1] - (pause[1] if paced else 0),
        )
        for label, _, _, paced in LOGGING_CASES[:-1]
    ]


def raw_line_cost(calls: int, repeat: int) -> tuple[float, float]:
    """An alternative, not what the service does: the same fields as one orjson line into a
    buffered file, written on the loop without the logging module."""
    fields = access_fields(_started(), SimpleNamespace(status=200))
    with tempfile.TemporaryFile() as sink:

        def write_line() -> None:
            sink.write(orjson.dumps({"time": time.time(), **fields}) + b"\n")

        return measure(write_line, calls, repeat)


def _started() -> Any:
    request = fake_request()
    start_request(request)
    return request


def metrics_cost(calls: int, repeat: int) -> tuple[float, float]:
    """What the service records per request: one query duration, the request counter and
    histogram, the three pool gauges."""
    metrics = Metrics()
    fields = access_fields(_started(), SimpleNamespace(status=200))
    stats = PoolStats(size=4, in_use=1, waiting=0)

    def metrics_per_request() -> None:
        metrics.observe_query("product_review_summary", 0.0004)
        metrics.observe_request(fields)
        metrics.observe_pool(stats)

    return measure(metrics_per_request, calls, repeat)


def pure_costs(calls: int, repeat: int) -> list[tuple[str, float, float]]:
    payload = orjson.dumps(summary_body(PRODUCT, "B0128IL7TH", parse_period({}), ROW))

    def validation() -> None:
        parse_entity_id(PRODUCT, "B0128IL7TH")
        arguments = parse_query_arguments(PRODUCT, QUERY_STRING)
        parse_period(arguments)
        choose_media_type(arguments.get("format"), "*/*")

    def request_id_and_fields() -> None:
        request = fake_request()
        start_request(request)
        access_fields(request, SimpleNamespace(status=200))

    def etag() -> None:
        headers = cache_headers(
            entity_tag("1", payload), max_age_s=60, private=False, vary="Accept"
        )
        matches(None, headers["ETag"])

    def body() -> None:
        orjson.dumps(summary_body(PRODUCT, "B0128IL7TH", parse_period({}), ROW))

    def baseline_body() -> None:
        orjson.dumps(ROW)

    return [
        (
            "metrics: 1 query + request counter/histogram + 3 pool gauges",
            *metrics_cost(calls, repeat),
        ),
    ] + [
        (label, *measure(work, calls, repeat))
        for label, work in (
            ("validation: id, query string, dates, media type", validation),
            ("request id (uuid4) + access-log fields", request_id_and_fields),
            ("ETag (blake2b of the body) + cache headers", etag),
            ("response body: summary_body + orjson", body),
            ("baseline's body: orjson of the row", baseline_body),
        )
    ]


async def database_costs(url: str, calls: int, repeat: int) -> list[tuple[str, float, float]]:
    import asyncpg

    from service.database import PostgresStore, create_pool, load_queries
    from service.settings import Settings

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
        ("query: service store.summary (pool with timeout, aiosql, observer)", service_store),
        ('aiosql\'s `"acquire" in dir(connection)`, inside the line above', aiosql_dir),
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
    rows.append(
        (
            "alternative: orjson line to a buffered file, no logging module",
            *raw_line_cost(arguments.calls, arguments.repeat),
        )
    )
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
