"""The fast tier: the request path in this process (tests/in_process.py), on SQLite files
only, so that a change to service/ is checked in seconds (`make test-fast`).

These fixtures override the real-server tier's of the same names (tests/conftest.py), so
test bodies imported from the real tier's modules run here unchanged, against the same rows
and the same oracle.

Each test gets an app of its own on a copy of the SQLite file of the test rows (a copy
takes a millisecond, an app about a tenth of a second): no test sees another's state, and
mutation testing (`make mutation`) sees every test run the code that builds the app, so it
gives a mutant of that code to every test that would notice it. While mutmut then tests one
mutant, the apps are made once per module instead (`app_scope`): the mutant is active from
the start of the forked run, so each module's app is the mutated one all the same, and a
mutant that survives costs its tests' requests rather than an app each (five times less).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import test_access
import test_observability
from in_process import InProcessServer, serving

Serve = Callable[..., InProcessServer]


@pytest.fixture(scope="session")
def backend() -> str:
    return "sqlite"


def app_scope(fixture_name: str, config: pytest.Config) -> Literal["function", "module"]:
    """An app per test, but per module while mutmut runs a mutant's tests (see above)."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    return "module" if mutant.startswith("service.") else "function"


def copy_of_test_rows(session_sqlite_url: str, folder: Path) -> Path:
    return Path(shutil.copy(session_sqlite_url.removeprefix("sqlite:///"), folder))


@pytest.fixture(scope=app_scope)
def sqlite_url(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the SQLite file of the test rows (the session's one, which it overrides,
    is only copied) for this test's app, so that what a test checks about the file is about
    the file its app served."""
    return f"sqlite:///{copy_of_test_rows(sqlite_url, tmp_path_factory.mktemp('fast'))}"


@pytest.fixture
def own_sqlite_file(sqlite_url: str, tmp_path: Path) -> Path:
    """A copy of the test rows' SQLite file that this test may change."""
    return copy_of_test_rows(sqlite_url, tmp_path)


@pytest.fixture(scope=app_scope)
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture(scope=app_scope)
def server(sqlite_url: str) -> Iterator[InProcessServer]:
    with serving(sqlite_url, LOG_LEVEL="WARNING") as running:
        yield running


@pytest.fixture(scope=app_scope)
def client(server: InProcessServer) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


@pytest.fixture(scope=app_scope)
def document(client: httpx.Client) -> dict[str, Any]:
    """As tests/test_openapi.py's, for each test's own app."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture(scope=app_scope)
def keyed_server(sqlite_url: str) -> Iterator[InProcessServer]:
    """As tests/test_access.py configures its server."""
    key_digest = hashlib.sha256(test_access.KEY.encode()).hexdigest()
    with serving(
        sqlite_url,
        API_KEYS=f"{test_access.OTHER_KEY_DIGEST},{key_digest}",
        CORS_ORIGINS=f"{test_access.ORIGIN},http://localhost:3000",
    ) as running:
        yield running


@pytest.fixture(scope=app_scope)
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
