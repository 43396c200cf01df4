"""A query the database cannot finish in time is cancelled and answered 503 problem+json,
quickly, and the pool is healthy afterwards. The slowness is real: the test holds a lock
the service's query must wait for. Readiness is not held up by it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import oracle
import psycopg
import pytest
from conftest import start_server, stop_server
from postgres_server import ThrowawayDatabase
from review_rows import Review

PATH = "/v1/products/ENDS/reviews/summary"


@contextmanager
def reviews_locked(owner_url: str) -> Iterator[None]:
    """Hold an exclusive lock on the raw table: every summary query waits behind it."""
    with psycopg.connect(owner_url) as connection:
        connection.execute("LOCK TABLE public.reviews IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


@pytest.mark.parametrize(
    ("settings", "limit_s"),
    [
        # Server side: statement_timeout cancels the query (SQLSTATE 57014).
        ({"DB_STATEMENT_TIMEOUT_MS": "300", "DB_COMMAND_TIMEOUT_S": "30"}, 0.3),
        # Client side: no statement timeout, the command timeout gives up on the query.
        ({"DB_STATEMENT_TIMEOUT_MS": "0", "DB_COMMAND_TIMEOUT_S": "0.5"}, 0.5),
    ],
    ids=["statement-timeout", "command-timeout"],
)
def test_slow_query_is_a_503_and_the_pool_recovers(
    postgres_url: str,
    api_database: ThrowawayDatabase,
    tmp_path: Path,
    settings: dict[str, str],
    limit_s: float,
    reviews: list[Review],
) -> None:
    expected = oracle.product_summary(reviews, "ENDS", None, None)
    # No response cache: the repeated request must reach the locked table.
    server = start_server(postgres_url, tmp_path / "server.log", CACHE_ENTRIES="0", **settings)
    try:
        with server.client() as client:
            assert client.get(PATH).json() == expected
            with reviews_locked(api_database.owner_url):
                started = time.monotonic()
                response = client.get(PATH)
                elapsed = time.monotonic() - started
                readiness = client.get("/health/ready")
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"].isdigit()
            assert response.json()["type"] == "/problems/database-unavailable"
            # The timeout, then the 503 (a few ms); 1.5 s of margin for a loaded machine.
            assert limit_s <= elapsed < limit_s + 1.5
            # Readiness reads the load history, not the locked reviews (a load's switch
            # locks them for a moment): the database answers, the instance stays ready.
            assert readiness.status_code == 200
            # Lock released: the same pool answers again, several times over, and right.
            for _ in range(10):
                response = client.get(PATH)
                assert response.status_code == 200, response.text
                assert response.json() == expected
    finally:
        stop_server(server)
