"""With the response cache on, a new load is what every worker answers once its
notification has arrived, and a worker that cannot hear notifications does not cache.

Real parts throughout: `reviews-api load` switches the data and sends the notification,
`reviews-api serve` runs two workers, each listening on its own connection; the expected
answers come from the plain-Python oracle over the rows of each load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import oracle
import psycopg
import pytest
from conftest import RunningServer, run_cli, start_server, stop_server, summary_path
from postgres_server import ThrowawayDatabase
from review_rows import Review, make_review, write_sqlite
from tcp_proxy import proxy_to, through

PRODUCT = "ENDS"  # has reviews in both loads, with other figures in the second
NEW_PRODUCT = "LOADED-LATER"  # unknown (404) before the second load
NOTIFICATION_WAIT_S = 10.0


def second_load(reviews: list[Review]) -> list[Review]:
    """The rows of the next load: PRODUCT loses every other review, NEW_PRODUCT appears."""
    ends = [review for review in reviews if review.productID == PRODUCT]
    kept = [review for review in reviews if review not in ends[::2]]
    start = max(review.index for review in reviews) + 1
    new = [
        make_review(
            start + n,
            product=NEW_PRODUCT,
            reviewer=f"LATER{n}",
            day=date(2018, 1, n + 1),
            stars=n % 5 + 1,
        )
        for n in range(3)
    ]
    return kept + new


def expected(reviews: list[Review], product: str, bounds: tuple[date | None, date | None]) -> Any:
    return oracle.product_summary(reviews, product, *bounds)


def answer(server: RunningServer, product: str, bounds: tuple[date | None, date | None]) -> Any:
    """One request over a fresh connection (the kernel spreads those over the workers)."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = client.get(summary_path("products", product, *bounds))
    return response.json() if response.status_code == 200 else response.status_code


def tag(server: RunningServer) -> str:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        return client.get(summary_path("products", PRODUCT)).headers["etag"]


def version_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"].startswith("serving data version")]


def wait_until_serving(server: RunningServer, version: str, workers: int) -> list[datetime]:
    """When each worker logged that it serves `version` (it heard the notification)."""
    deadline = time.monotonic() + NOTIFICATION_WAIT_S
    while time.monotonic() < deadline:
        heard = {
            line["pid"]: datetime.fromisoformat(line["time"])
            for line in version_lines(server)
            if line["message"] == f"serving data version {version}"
        }
        if len(heard) == workers:
            return list(heard.values())
        time.sleep(0.05)
    raise AssertionError(f"not every worker heard of version {version}:\n{server.log()}")


def live_load(owner_url: str) -> tuple[str, datetime]:
    with psycopg.connect(owner_url) as connection:
        load_id, finished_at = connection.execute(
            "SELECT load_id, finished_at FROM review_api.data_loads ORDER BY load_id DESC LIMIT 1"
        ).fetchone()
    return str(load_id), finished_at.astimezone(UTC)


@pytest.fixture
def loads(
    make_database: Callable[[], ThrowawayDatabase], reviews: list[Review], tmp_path: Path
) -> tuple[ThrowawayDatabase, Path]:
    """A fresh database holding the first load, and the SQLite file of the second."""
    database = make_database()
    first = write_sqlite(tmp_path / "first.sqlite", reviews)
    run_cli("load", "--source", str(first), "--database-url", database.owner_url)
    return database, write_sqlite(tmp_path / "second.sqlite", second_load(reviews))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def start(database_url: str, **env: str) -> RunningServer:
        log = tmp_path / f"server{len(started)}.log"
        started.append(start_server(database_url, log, LOG_LEVEL="INFO", **env))
        return started[-1]

    yield start
    for server in started:
        stop_server(server)


BOUNDS = [(None, None), (date(2015, 1, 1), date(2016, 12, 31))]


def test_after_the_notification_every_worker_answers_the_new_load(
    loads: tuple[ThrowawayDatabase, Path],
    reviews: list[Review],
    serve: Callable[..., RunningServer],
) -> None:
    database, second = loads
    server = serve(database.reader_url, WORKERS="2")
    wait_until_serving(server, "1", workers=2)
    for _ in range(10):  # fill both workers' caches
        for bounds in BOUNDS:
            assert answer(server, PRODUCT, bounds) == expected(reviews, PRODUCT, bounds)
        assert answer(server, NEW_PRODUCT, BOUNDS[0]) == 404

    run_cli("load", "--source", str(second), "--database-url", database.owner_url)
    version, committed_at = live_load(database.owner_url)
    heard_at = wait_until_serving(server, version, workers=2)
    delays_ms = [(at - committed_at).total_seconds() * 1000 for at in heard_at]
    print(f"notification heard {', '.join(f'{d:.0f}' for d in delays_ms)} ms after the load")

    new_rows = second_load(reviews)
    for _ in range(10):
        for bounds in BOUNDS:
            assert answer(server, PRODUCT, bounds) == expected(new_rows, PRODUCT, bounds)
        assert answer(server, NEW_PRODUCT, BOUNDS[0]) == expected(new_rows, NEW_PRODUCT, BOUNDS[0])
    with httpx.Client(base_url=server.base_url) as client:
        etag = client.get(summary_path("products", PRODUCT)).headers["etag"]
    assert etag.startswith(f'"{version}-')


def test_a_worker_that_cannot_listen_does_not_cache_and_listens_again(
    loads: tuple[ThrowawayDatabase, Path],
    reviews: list[Review],
    serve: Callable[..., RunningServer],
) -> None:
    database, second = loads
    with proxy_to(database.reader_url) as proxy:
        server = serve(database.reader_url, LISTEN_DATABASE_URL=through(database.reader_url, proxy))
        wait_until_serving(server, "1", workers=1)
        for _ in range(3):
            assert answer(server, PRODUCT, BOUNDS[0]) == expected(reviews, PRODUCT, BOUNDS[0])

        proxy.reset_new_connections()
        proxy.kill_connections()  # the listener is gone, and cannot come back for now
        deadline = time.monotonic() + NOTIFICATION_WAIT_S
        while "not listening for new loads" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        run_cli("load", "--source", str(second), "--database-url", database.owner_url)
        # The notification is lost on the way, yet the cached answer is not served.
        new_rows = second_load(reviews)
        assert answer(server, PRODUCT, BOUNDS[0]) == expected(new_rows, PRODUCT, BOUNDS[0])
        # Nor is the old version in the tag: while not listening, the worker re-reads it at
        # most VERSION_TTL_S (1 s) after the last read.
        version, _ = live_load(database.owner_url)
        deadline = time.monotonic() + NOTIFICATION_WAIT_S
        while not tag(server).startswith(f'"{version}-'):
            assert time.monotonic() < deadline, tag(server)
            time.sleep(0.05)

        proxy.reset_new_connections(False)
        wait_until_serving(server, version, workers=1)
        for _ in range(3):
            assert answer(server, PRODUCT, BOUNDS[0]) == expected(new_rows, PRODUCT, BOUNDS[0])
