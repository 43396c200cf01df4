"""The fast tier: the request path in this process (tests/in_process.py), on SQLite files
only, so that a change to service/ is checked in seconds (`make test-fast`).

These fixtures override the real-server tier's of the same names (tests/conftest.py), so
test bodies imported from the real tier's modules run here unchanged, against the same rows
and the same oracle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import test_access
import test_observability
from in_process import InProcessServer, serving
from review_rows import Review, write_sqlite

Serve = Callable[..., InProcessServer]


@pytest.fixture(scope="session")
def backend() -> str:
    return "sqlite"


@pytest.fixture(scope="session")
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope="module")
def server(sqlite_url: str) -> Iterator[InProcessServer]:
    with serving(sqlite_url, LOG_LEVEL="WARNING") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: InProcessServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture(scope="module")
def keyed_server(sqlite_url: str) -> Iterator[InProcessServer]:
    """As tests/test_access.py configures its server."""
    key_digest = hashlib.sha256(test_access.KEY.encode()).hexdigest()
    with serving(
        sqlite_url,
        API_KEYS=f"{test_access.OTHER_KEY_DIGEST},{key_digest}",
        CORS_ORIGINS=f"{test_access.ORIGIN},http://localhost:3000",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def logged_server(sqlite_url: str) -> Iterator[InProcessServer]:
    """As tests/test_observability.py configures its server."""
    with serving(
        sqlite_url, API_KEYS=hashlib.sha256(test_observability.KEY.encode()).hexdigest()
    ) as running:
        yield running


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(database_url, **environment)`: an app of this test's own, stopped after it."""
    with ExitStack() as stack:

        def start(database_url: str, **environment: str) -> InProcessServer:
            return stack.enter_context(serving(database_url, **environment))

        yield start


@pytest.fixture
def own_sqlite_file(reviews: list[Review], tmp_path: Path) -> Path:
    """A SQLite file of the test rows for one test, which it may change."""
    return write_sqlite(tmp_path / "reviews.sqlite", reviews)
