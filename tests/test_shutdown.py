"""SIGTERM stops the service gracefully: no new connections, the request in flight still
gets its answer within GRACEFUL_SHUTDOWN_S, then the pool closes and the process exits 0.

The request is kept in flight for real: the test holds a lock its query must wait for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import RunningServer, start_server
from postgres_server import (
    ThrowawayDatabase,
    extra_login,
    service_connections,
    sessions_waiting_for_a_lock,
)
from test_postgres_timeouts import reviews_locked

PRODUCT = "/v1/products/ENDS/reviews/summary"
GRACE_S = 5
# Long database timeouts: only the shutdown may end the wait for the lock.
SLOW_QUERY_SETTINGS = {
    "GRACEFUL_SHUTDOWN_S": str(GRACE_S),
    "DB_STATEMENT_TIMEOUT_MS": "30000",
    "DB_COMMAND_TIMEOUT_S": "30",
}
Serve = Callable[..., RunningServer]


@pytest.fixture
def login(
    postgres_admin_url: str, api_database: ThrowawayDatabase, postgres_url: str
) -> Iterator[tuple[str, str]]:
    """(role, url): a login of this test's own, so its sessions can be counted."""
    with extra_login(postgres_admin_url, api_database) as role_and_url:
        yield role_and_url


@pytest.fixture
def serve(login: tuple[str, str], tmp_path: Path) -> Iterator[Serve]:
    """Start servers on this test's login. The tests send the SIGTERM themselves; one a failed
    test leaves running is SIGKILLed by PID (a second SIGTERM could make Sanic's worker
    manager, with WORKERS > 1, SIGKILL its process group, which conftest shares with pytest)."""
    started: list[RunningServer] = []

    def start(**env: str) -> RunningServer:
        log_path = tmp_path / f"server{len(started)}.log"
        started.append(start_server(login[1], log_path, **{**SLOW_QUERY_SETTINGS, **env}))
        return started[-1]

    yield start
    for server in started:
        kill_if_running(server)


def kill_if_running(server: RunningServer) -> None:
    """Only a failed test leaves a server running: SIGKILL it and its workers, by PID."""
    if server.process.poll() is None:
        for pid in [*child_pids(server.process.pid), server.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.process.wait()


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def refuses_connections(base_url: str) -> bool:
    host, port = base_url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


Hold = Callable[[RunningServer], AbstractContextManager["Future[httpx.Response]"]]


@pytest.fixture
def request_in_flight(
    login: tuple[str, str], postgres_admin_url: str, api_database: ThrowawayDatabase
) -> Hold:
    """`with request_in_flight(server) as answer:` a GET whose query waits, inside the
    block, for a lock the test holds; `answer` is its future response."""
    role, _ = login

    @contextmanager
    def hold(server: RunningServer) -> Iterator[Future[httpx.Response]]:
        with ThreadPoolExecutor(1) as executor, reviews_locked(api_database.owner_url):
            answer = executor.submit(get_summary, server)
            wait_until(
                lambda: sessions_waiting_for_a_lock(postgres_admin_url, role) == 1, 5, "query waits"
            )
            yield answer

    return hold


def get_summary(server: RunningServer) -> httpx.Response:
    with server.client() as client:
        return client.get(PRODUCT)


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(
    serve: Serve, request_in_flight: Hold, login: tuple[str, str], postgres_admin_url: str
) -> None:
    server = serve()
    with request_in_flight(server) as answer:
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # Not a wait for something to happen: the process must still be there half a second
        # on, while its request waits for the lock (it would exit within ms otherwise).
        with pytest.raises(subprocess.TimeoutExpired):
            server.process.wait(timeout=0.5)
        assert not answer.done()
    # The lock is gone: the query finishes.
    assert answer.result(timeout=GRACE_S).status_code == 200
    assert server.process.wait(timeout=GRACE_S) == 0, server.log()
    assert time.monotonic() - sigterm_at < GRACE_S
    wait_until(
        lambda: service_connections(postgres_admin_url, login[0]) == 0, 2, "the pool's sessions end"
    )


def test_sigterm_refuses_new_connections_while_draining(
    serve: Serve, request_in_flight: Hold
) -> None:
    server = serve()
    with request_in_flight(server) as answer:
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(server.base_url), 2, "the listener closes")
        assert not answer.done()
    assert answer.result(timeout=GRACE_S).status_code == 200
    assert server.process.wait(timeout=GRACE_S) == 0


def test_sigterm_gives_up_on_a_request_that_outlasts_the_grace_period(
    serve: Serve, request_in_flight: Hold, login: tuple[str, str], postgres_admin_url: str
) -> None:
    server = serve(GRACEFUL_SHUTDOWN_S="1")
    with request_in_flight(server) as answer:
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=GRACE_S) == 0, server.log()
        assert time.monotonic() - sigterm_at < 1 + 1.5
        with pytest.raises(httpx.TransportError):  # dropped without an answer
            answer.result(timeout=GRACE_S)
        # Its query was cancelled: the session is gone although the lock is still held.
        wait_until(
            lambda: service_connections(postgres_admin_url, login[0]) == 0, 2, "sessions end"
        )
