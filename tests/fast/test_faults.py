"""Faults on the request path that need the app in this process: a bug (500), a client that
leaves while its query runs (499), the SQLite file failing under the service (503) and
changing under it (a new ETag).

The 500 and the 499 need a store that misbehaves on demand, which no real database does:
the app's store is wrapped by a test double (`FaultyStore`) after start-up, and only the
one call named fails or waits. The SQLite faults are real: another connection drops and
restores the table, or adds a row, in the file the service reads.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import Any

import oracle
import pytest
from conftest import log_lines, wait_for_log_lines
from in_process import InProcessServer, serving
from review_rows import SCHEMA_SQL, Review, make_review

PRODUCT = "/v1/products/ENDS/reviews/summary"


class FaultyStore:
    """The app's store, but `call` raises `error` or, with `stall`, waits until the
    request is cancelled; everything else is the real store's."""

    def __init__(self, store: Any, *, error: Exception | None = None, stall: bool = False) -> None:
        self._store = store
        self._error = error
        self._stall = stall
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        if self._error is not None:
            raise self._error
        if self._stall:
            try:
                await asyncio.Event().wait()  # until Sanic cancels the request
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return await self._store.call(*args, **kwargs)


@contextmanager
def faulty_store(server: InProcessServer, **fault: Any) -> Iterator[FaultyStore]:
    real = server.app.ctx.store
    server.app.ctx.store = FaultyStore(real, **fault)
    try:
        yield server.app.ctx.store
    finally:
        server.app.ctx.store = real


@pytest.fixture
def logged(own_sqlite_file: Path) -> Iterator[InProcessServer]:
    with serving(f"sqlite:///{own_sqlite_file}") as server:
        yield server


def expected_body(reviews: list[Review]) -> Any:
    return oracle.product_summary(reviews, "ENDS", None, None)


def test_a_bug_is_a_500_problem_logged_with_its_traceback(
    logged: InProcessServer, reviews: list[Review]
) -> None:
    with (
        faulty_store(logged, error=ZeroDivisionError("a bug in the store")),
        logged.client() as client,
    ):
        response = client.get(PRODUCT, headers={"X-Request-ID": "the-bug"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem == {
        "type": "/problems/internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server failed to answer this request; the error has been logged.",
    }
    assert "ZeroDivisionError" not in response.text and "a bug" not in response.text
    (error,) = wait_for_log_lines(
        logged,
        lambda line: (
            line["message"]
            == "unhandled ZeroDivisionError in GET /v1/products/{product_id}/reviews/summary"
        ),
    )
    assert error["level"] == "ERROR"
    assert "a bug in the store" in error["exception"]  # the traceback is for the operator
    assert error["request_id"] == "the-bug"  # the same id as the access line's
    (access,) = wait_for_log_lines(
        logged,
        lambda line: line["logger"] == "reviews_api.access" and line.get("request_id") == "the-bug",
    )
    assert access["status"] == 500
    with logged.client() as client:  # nothing is left broken
        assert client.get(PRODUCT).json() == expected_body(reviews)


def test_a_client_that_leaves_mid_request_is_logged_as_499(logged: InProcessServer) -> None:
    host, port = logged.base_url.removeprefix("http://").split(":")
    with faulty_store(logged, stall=True) as store:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                f"GET {PRODUCT} HTTP/1.1\r\nHost: t\r\nX-Request-ID: gone\r\n\r\n".encode()
            )
            assert store.entered.wait(5), "the request reached the store"
        assert store.cancelled.wait(5), "the request was cancelled when the client left"
    (access,) = wait_for_log_lines(logged, lambda line: line.get("request_id") == "gone")
    assert access["status"] == 499
    wait_for_log_lines(
        logged,
        lambda line: (
            line["message"] == "the client closed the connection before the response was sent"
        ),
    )
    # A client that left is no error of the service's: nothing logged at ERROR.
    assert not [line for line in log_lines(logged) if line["level"] == "ERROR"]


def rewrite_reviews(path: Path, reviews: list[Review] | None) -> None:
    """Drop the reviews table of the file the service reads; recreate it with `reviews`."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("DROP TABLE IF EXISTS reviews")
        if reviews is not None:
            connection.executescript(SCHEMA_SQL.read_text())
            connection.executemany(
                "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [astuple(review) for review in reviews],
            )
        connection.commit()


def test_a_failing_sqlite_file_is_a_503_until_it_is_back(
    logged: InProcessServer, own_sqlite_file: Path, reviews: list[Review]
) -> None:
    with logged.client() as client:
        assert client.get(PRODUCT).json() == expected_body(reviews)
        rewrite_reviews(own_sqlite_file, None)  # sqlite3.OperationalError: no such table
        for path in (PRODUCT, "/health/ready"):
            response = client.get(path)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json() == {
                "type": "/problems/database-unavailable",
                "title": "Service Unavailable",
                "status": 503,
                "detail": "The database is not answering; try again shortly.",
            }
            assert response.headers["retry-after"] == "5"
        # The operator learns why; the client does not.
        warnings = wait_for_log_lines(
            logged,
            lambda line: line["logger"] == "reviews_api.database" and line["level"] == "WARNING",
            count=2,
        )
        assert {line["message"] for line in warnings} == {
            "database unavailable: OperationalError: no such table: reviews"
        }
        rewrite_reviews(own_sqlite_file, reviews)
        assert client.get("/health/ready").status_code == 200
        assert client.get(PRODUCT).json() == expected_body(reviews)


def test_the_sqlite_etag_changes_when_the_file_changes(
    logged: InProcessServer, own_sqlite_file: Path, reviews: list[Review]
) -> None:
    """SQLite has no notification: the version (row count, highest row) is re-read at most
    a second after it was last read, so a changed file gets new tags within about a second."""
    new_review = make_review(
        max(review.index for review in reviews) + 1,
        product="ENDS",
        reviewer="LATE",
        day=oracle.date(2018, 9, 28),
        stars=1,
    )
    with logged.client() as client:
        before = client.get(PRODUCT)
        with closing(sqlite3.connect(own_sqlite_file)) as connection:
            connection.execute(
                "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", astuple(new_review)
            )
            connection.commit()
        deadline = time.monotonic() + 5
        while (
            after := client.get(PRODUCT, headers={"If-None-Match": before.headers["etag"]})
        ).status_code == 304:
            assert time.monotonic() < deadline, "the tag did not change"
            time.sleep(0.05)
    assert after.status_code == 200
    assert after.json() == oracle.product_summary([*reviews, new_review], "ENDS", None, None)
    assert after.headers["etag"] != before.headers["etag"]
    assert json.loads(before.content) == expected_body(reviews)
