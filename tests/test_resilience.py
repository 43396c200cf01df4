"""The service survives its database going away and clients misbehaving.

Database failures are real: the service reaches the session's PostgreSQL through a TCP
proxy the test breaks (tests/tcp_proxy.py), as its own login so that pg_stat_activity tells
its connections apart from every other server's.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import oracle
import psycopg
import pytest
from conftest import RunningServer, send_raw, start_server, stop_server, summary_path
from postgres_server import (
    ThrowawayDatabase,
    extra_login,
    service_connections,
    sessions_waiting_for_a_lock,
)
from review_rows import Review
from tcp_proxy import proxy_to, through
from test_observability import metric_value
from test_postgres_timeouts import reviews_locked

from service.settings import sqlite_path_from_url

PRODUCT = "/v1/products/ENDS/reviews/summary"
Serve = Callable[..., RunningServer]


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def login(
    postgres_admin_url: str, api_database: ThrowawayDatabase, postgres_url: str
) -> Iterator[tuple[str, str]]:
    """(role, url) of a login of this module's own to the session database of test rows."""
    with extra_login(postgres_admin_url, api_database) as role_and_url:
        yield role_and_url


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start `reviews-api serve` processes; every one is stopped (by PID) afterwards."""
    started: list[RunningServer] = []

    def start(database_url: str, **env: str) -> RunningServer:
        started.append(start_server(database_url, tmp_path / f"server{len(started)}.log", **env))
        return started[-1]

    yield start
    for server in started:
        stop_server(server)


# Helpers ----------------------------------------------------------------------------------


def assert_answers_right(responses: list[httpx.Response], reviews: list[Review]) -> None:
    """Every response is PRODUCT's summary as the oracle computes it: values, not statuses
    (a recovered pool must not serve another session's or a half-read answer)."""
    expected = oracle.product_summary(reviews, "ENDS", None, None)
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json() == expected


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/database-unavailable"
    assert response.headers["retry-after"].isdigit()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.1)


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def burst(client: httpx.Client, path: str, count: int) -> list[httpx.Response]:
    """`count` requests at once (as many threads), in the order they were sent."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: client.get(path), range(count)))


class ConnectionSampler:
    """Counts the service's PostgreSQL sessions on entry, every 10 ms in a thread, and on
    exit; `peak` is the most. (A whole outage-and-recovery test can take 0.1 s.)"""

    def __init__(self, admin_url: str, role: str) -> None:
        self.peak = 0
        self._count = lambda: service_connections(admin_url, role)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._take_sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take_sample()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._take_sample()

    def _take_sample(self) -> None:
        self.peak = max(self.peak, self._count())


# 1. Start-up with the database down -------------------------------------------------------


def test_starts_with_the_database_down_and_serves_once_it_is_back(
    login: tuple[str, str], serve: Serve, reviews: list[Review]
) -> None:
    _, login_url = login
    with proxy_to(login_url, listening=False) as proxy:  # nothing listens: refused
        server = serve(through(login_url, proxy), DB_CONNECT_TIMEOUT_S="1")
        with server.client() as client:
            assert client.get("/health/live").status_code == 200
            assert_unavailable(client.get("/health/ready"))
            assert_unavailable(client.get(PRODUCT))
            wait_until(lambda: "not answering at start-up" in server.log(), 2, "the warning")

            proxy.listen()
            wait_until(
                lambda: client.get("/health/ready").status_code == 200,
                timeout_s=5,
                what="ready once PostgreSQL answers",
            )
            assert_answers_right([client.get(PRODUCT)], reviews)


def test_while_down_it_tries_to_connect_about_once_a_second(
    login: tuple[str, str], serve: Serve
) -> None:
    _, login_url = login
    with proxy_to(login_url) as proxy:
        proxy.reset_new_connections()  # down, but each connection attempt is counted
        server = serve(through(login_url, proxy), DB_CONNECT_TIMEOUT_S="1")
        with server.client() as client:
            proxy.accepted = 0
            started = time.monotonic()
            for _ in range(30):
                response, elapsed = timed_get(client, PRODUCT)
                assert_unavailable(response)
                assert elapsed < 0.5
                time.sleep(0.05)
            window_s = time.monotonic() - started
        # One pool attempt per second; asyncpg may open two sockets per attempt (TLS, then
        # plain), so allow two per attempt and one attempt more than whole seconds passed.
        assert 1 <= proxy.accepted <= 2 * (int(window_s) + 1), (proxy.accepted, window_s)


# 2. The link dies mid-flight --------------------------------------------------------------

OUTAGE_SETTINGS = {
    "CACHE_ENTRIES": "0",  # the repeated requests must reach the broken database
    "DB_COMMAND_TIMEOUT_S": "1",
    "DB_CONNECT_TIMEOUT_S": "1",
    "DB_STATEMENT_TIMEOUT_MS": "0",  # the link, not the server, must end the wait
    "DB_POOL_MIN": "1",
    "DB_POOL_MAX": "4",
    "DB_QUEUE_WAIT_MS": "1000",
}
POOL_MAX = int(OUTAGE_SETTINGS["DB_POOL_MAX"])


def test_blackholed_link_answers_503_quickly_and_the_pool_recovers(
    login: tuple[str, str],
    serve: Serve,
    postgres_admin_url: str,
    reviews: list[Review],
) -> None:
    role, login_url = login
    with proxy_to(login_url) as proxy:
        server = serve(through(login_url, proxy), **OUTAGE_SETTINGS)
        with server.client() as client, ConnectionSampler(postgres_admin_url, role) as sampler:
            assert_answers_right(burst(client, PRODUCT, 8), reviews)
            proxy.blackhole()
            started = time.monotonic()
            responses = burst(client, PRODUCT, 8)
            elapsed = time.monotonic() - started
            for response in responses:
                assert_unavailable(response)
            # DB_COMMAND_TIMEOUT_S for those holding a connection; those in line for one
            # wait DB_QUEUE_WAIT_MS (1 s), and as no query has finished for longer than the
            # command timeout meanwhile, they too are told the database is not answering;
            # 0.5 s of margin for eight requests on a loaded machine (about 1.05 s here).
            assert elapsed < 1 + 0.5
            assert_unavailable(client.get("/health/ready"))
            proxy.forward()
            wait_until(
                lambda: client.get("/health/ready").status_code == 200, 5, "ready after the heal"
            )
            assert_answers_right(burst(client, PRODUCT, 20), reviews)
        assert 0 < sampler.peak <= POOL_MAX


def test_killed_connections_answer_503_at_once_and_the_pool_recovers(
    login: tuple[str, str],
    serve: Serve,
    postgres_admin_url: str,
    api_database: ThrowawayDatabase,
    reviews: list[Review],
) -> None:
    role, login_url = login
    settings = {**OUTAGE_SETTINGS, "DB_COMMAND_TIMEOUT_S": "10"}  # the kill must end it
    with proxy_to(login_url) as proxy:
        server = serve(through(login_url, proxy), **settings)
        with server.client() as client, ConnectionSampler(postgres_admin_url, role) as sampler:
            assert_answers_right(burst(client, PRODUCT, 8), reviews)
            with reviews_locked(api_database.owner_url), ThreadPoolExecutor(POOL_MAX) as pool:
                in_flight = [pool.submit(client.get, PRODUCT) for _ in range(POOL_MAX)]
                wait_until(
                    lambda: sessions_waiting_for_a_lock(postgres_admin_url, role) == POOL_MAX,
                    5,
                    "the queries wait for the lock",
                )
                # The database "crashes": its connections die, new ones are reset.
                proxy.reset_new_connections()
                proxy.kill_connections()
                killed_at = time.monotonic()
                for future in in_flight:
                    assert_unavailable(future.result())
                # "At once": a few ms here; 1 s of margin, far below the 10 s command timeout.
                assert time.monotonic() - killed_at < 1
                assert_unavailable(client.get(PRODUCT))
            # PostgreSQL notices a dead client only when it next writes to it (once the lock
            # is gone): wait for those sessions to end before counting the pool's new ones.
            wait_until(
                lambda: service_connections(postgres_admin_url, role) == 0,
                5,
                "the killed sessions end",
            )
            proxy.reset_new_connections(False)
            wait_until(
                lambda: client.get("/health/ready").status_code == 200, 5, "ready after restart"
            )
            assert_answers_right(burst(client, PRODUCT, 20), reviews)
        assert 0 < sampler.peak <= POOL_MAX


# 2b. Sessions killed under load -----------------------------------------------------------

# The service's sessions as pg_stat_activity names them: the pool, the readiness probe and
# the load listener (application_name reviews-api, reviews-api-ready, reviews-api-listener).
KILL_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE usename = %s AND application_name LIKE 'reviews-api%%'"
)
KILL_FOR_S = 4.0
KILL_EVERY_S = 0.05
CLIENT_THREADS = 8


def hammer(
    server: RunningServer, paths: list[str], stop: threading.Event, offset: int
) -> list[tuple[str, int, Any, dict[str, str]]]:
    """GET `paths` round and round until `stop`; returns (path, status, problem) of every
    answer that is not a 200."""
    not_ok = []
    with server.client() as client:
        position = offset
        while not stop.is_set():
            path = paths[position % len(paths)]
            position += 1
            response = client.get(path)
            if response.status_code != 200:
                problem = (
                    response.json()
                    if response.headers.get("content-type") == "application/problem+json"
                    else response.text
                )
                not_ok.append((path, response.status_code, problem, dict(response.headers)))
    return not_ok


def test_sessions_killed_under_load_are_503s_never_500s_and_all_recovers(
    login: tuple[str, str],
    serve: Serve,
    postgres_admin_url: str,
    reviews: list[Review],
) -> None:
    """pg_terminate_backend on every session of the service, every 50 ms, while eight
    clients ask for summaries and readiness (asyncpg issue #1069: a pooled connection
    whose backend was killed may fail with InternalClientError, not a connection error)."""
    role, login_url = login
    server = serve(login_url, CACHE_ENTRIES="0")  # every request must reach PostgreSQL
    products = sorted({r.productID for r in reviews})
    reviewers = sorted({r.reviewerID for r in reviews})
    paths = [summary_path("products", p) for p in products]
    paths += [summary_path("reviewers", r) for r in reviewers]
    paths += ["/health/ready"] * 8
    stop = threading.Event()
    kills = rounds = 0
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        clients = [
            pool.submit(hammer, server, paths, stop, n * len(paths) // CLIENT_THREADS)
            for n in range(CLIENT_THREADS)
        ]
        try:
            with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
                deadline = time.monotonic() + KILL_FOR_S
                while time.monotonic() < deadline:
                    row = admin.execute(KILL_SESSIONS, (role,)).fetchone()
                    kills += row[0] if row else 0
                    rounds += 1
                    time.sleep(KILL_EVERY_S)
        finally:
            stop.set()
        not_ok = [answer for future in clients for answer in future.result()]
    assert kills >= rounds // 2, (kills, rounds)  # the sessions were there to be killed
    statuses = {status for _, status, _, _ in not_ok}
    assert statuses <= {503}, [answer[:3] for answer in not_ok if answer[1] != 503][:5]
    for _, _, problem, headers in not_ok:
        assert problem["type"] == "/problems/database-unavailable", problem
        assert headers["retry-after"].isdigit()
    # Recovery: ready again, and every summary is the oracle's.
    with server.client() as client:
        wait_until(
            lambda: client.get("/health/ready").status_code == 200, 5, "ready after the kills"
        )
        for product in products:
            answer = client.get(summary_path("products", product))
            assert answer.json() == oracle.product_summary(reviews, product, None, None)
        for reviewer in reviewers:
            answer = client.get(summary_path("reviewers", reviewer))
            assert answer.json() == oracle.reviewer_summary(reviews, reviewer, None, None)
    assert "unhandled" not in server.log()


# 2c. More requests than connections -------------------------------------------------------


def assert_overloaded(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/overloaded"
    assert response.headers["retry-after"].isdigit()


def waiting_for_a_connection(client: httpx.Client) -> float:
    """reviews_api_db_pool_waiting: requests in line for a connection (sampled each second)."""
    return metric_value(client.get("/metrics").text, "reviews_api_db_pool_waiting")


def test_a_full_line_is_answered_overloaded_at_once_and_readiness_does_not_queue(
    login: tuple[str, str], serve: Serve, postgres_admin_url: str, api_database: ThrowawayDatabase
) -> None:
    """Two connections held by queries waiting for a lock, two requests in line (the most
    DB_QUEUE_MAX allows): the next request is refused at once as overloaded, not as a
    database outage, while /health/ready answers 200 at once on its own connection."""
    role, login_url = login
    server = serve(
        login_url,
        CACHE_ENTRIES="0",
        DB_POOL_MAX="2",
        DB_QUEUE_MAX="2",
        DB_QUEUE_WAIT_MS="60000",
        DB_STATEMENT_TIMEOUT_MS="0",
        DB_COMMAND_TIMEOUT_S="30",
    )
    with server.client() as client:
        assert client.get(PRODUCT).status_code == 200
        # The pool outside the lock: its exit waits for the requests the lock holds up.
        with ThreadPoolExecutor(4) as pool, reviews_locked(api_database.owner_url):
            in_flight = [pool.submit(client.get, PRODUCT) for _ in range(4)]
            wait_until(
                lambda: sessions_waiting_for_a_lock(postgres_admin_url, role) == 2,
                5,
                "two queries wait for the lock",
            )
            wait_until(lambda: waiting_for_a_connection(client) == 2, 5, "two requests in line")
            refused, refused_s = timed_get(client, PRODUCT)
            ready, ready_s = timed_get(client, "/health/ready")
            exposition = client.get("/metrics").text
        assert_overloaded(refused)
        assert refused_s < 0.5
        assert ready.status_code == 200, ready.text
        assert ready_s < 0.5
        # The lock is gone: those held up and those in line are all answered.
        assert [future.result().status_code for future in in_flight] == [200] * 4
    wait_until(
        lambda: (
            metric_value(
                client_metrics(server), "reviews_api_db_queue_refused_total", reason="full"
            )
            == 1
        ),
        5,
        "the refusal counted",
    )
    assert metric_value(exposition, "reviews_api_requests_total", status="503") == 1


def client_metrics(server: RunningServer) -> str:
    with server.client() as client:
        return client.get("/metrics").text


def test_a_request_waits_for_a_connection_at_most_the_limit(
    login: tuple[str, str], serve: Serve, postgres_admin_url: str, api_database: ThrowawayDatabase
) -> None:
    """A request waits at most DB_QUEUE_WAIT_MS for a connection, then is refused as
    overloaded; the query holding the connection is answered when it can be."""
    role, login_url = login
    server = serve(
        login_url,
        CACHE_ENTRIES="0",
        DB_POOL_MAX="1",
        DB_QUEUE_WAIT_MS="300",
        DB_STATEMENT_TIMEOUT_MS="0",
        DB_COMMAND_TIMEOUT_S="30",
    )
    with server.client() as client:
        assert client.get(PRODUCT).status_code == 200
        with ThreadPoolExecutor(1) as pool, reviews_locked(api_database.owner_url):
            held = pool.submit(client.get, PRODUCT)
            wait_until(
                lambda: sessions_waiting_for_a_lock(postgres_admin_url, role) == 1,
                5,
                "the query waits for the lock",
            )
            waited, waited_s = timed_get(client, PRODUCT)
        assert_overloaded(waited)
        assert 0.3 <= waited_s < 0.3 + 1
        assert held.result().status_code == 200


# 3. Abusive input -------------------------------------------------------------------------


def raw_get(target: bytes, headers: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n" % (target, headers)


def summary_of(encoded_id: str, query: str = "") -> bytes:
    return f"/v1/products/{encoded_id}/reviews/summary{query}".encode()


SIXTEEN_KB = 16 * 1024
SQL_INJECTIONS = {
    "or-1-1": "' OR 1=1 --",
    "drop-table": '"; DROP TABLE reviews; --',
    "union": "1' UNION SELECT product_id FROM reviews --",
}
# (request as sent, status, words of the detail). The same on both backends: everything is
# refused before the database, or reaches it as a bound parameter.
ABUSE = {
    # Sanic counts the request line into its 8 KiB header limit (413, not 414).
    "10kB-id": (raw_get(summary_of("x" * 10_240)), 413, "header exceeds the size limit"),
    "100-query-parameters": (
        raw_get(summary_of("ENDS", "?" + "&".join(f"p{n}=1" for n in range(100)))),
        400,
        "too many query parameters",
    ),
    "id-%C3%28": (raw_get(summary_of("%C3%28")), 400, "not valid UTF-8"),
    "id-%FF": (raw_get(summary_of("%FF")), 400, "not valid UTF-8"),
    "id-encoded-surrogate": (raw_get(summary_of("%ED%A0%80")), 400, "not valid UTF-8"),
    "query-%C3%28": (raw_get(summary_of("ENDS", "?from=%C3%28")), 400, "not valid UTF-8"),
    "query-%FF": (raw_get(summary_of("ENDS", "?to=%FF")), 400, "not valid UTF-8"),
    "id-%00": (raw_get(summary_of("EN%00DS")), 400, "control character"),
    "query-%00": (raw_get(summary_of("ENDS", "?from=2015-01-01%00")), 400, "YYYY-MM-DD"),
    **{
        f"id-sql-{name}": (raw_get(summary_of(quote(text, safe=""))), 404, "no reviews at all")
        for name, text in SQL_INJECTIONS.items()
    },
    **{
        f"query-sql-{name}": (
            raw_get(summary_of("ENDS", "?from=" + quote(text, safe=""))),
            400,
            "YYYY-MM-DD",
        )
        for name, text in SQL_INJECTIONS.items()
    },
    "one-16kB-header": (
        raw_get(summary_of("ENDS"), b"X-Big: " + b"a" * SIXTEEN_KB + b"\r\n"),
        413,
        "header exceeds the size limit",
    ),
    "many-headers-16kB": (
        raw_get(
            summary_of("ENDS"), b"".join(b"X-H%03d: %s\r\n" % (n, b"v" * 33) for n in range(400))
        ),
        413,
        "header exceeds the size limit",
    ),
    "raw-non-ASCII-path": (
        raw_get(summary_of("ENDS").replace(b"ENDS", b"\xc3\xa9\xff")),
        400,
        "US-ASCII",
    ),
    "raw-non-ASCII-query": (raw_get(summary_of("ENDS", "?from=") + b"\xff"), 400, "US-ASCII"),
}


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


def review_count(backend: str, request: pytest.FixtureRequest) -> int:
    if backend == "sqlite":
        path = sqlite_path_from_url(request.getfixturevalue("sqlite_url"))
        with closing(sqlite3.connect(path)) as connection:
            return int(connection.execute("SELECT count(*) FROM reviews").fetchone()[0])
    owner_url = request.getfixturevalue("api_database").owner_url
    with psycopg.connect(owner_url) as connection:
        row = connection.execute("SELECT count(*) FROM public.reviews").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(("raw", "status", "words"), ABUSE.values(), ids=ABUSE.keys())
def test_abusive_input_is_a_4xx_problem_and_serving_goes_on(
    server: RunningServer,
    client: httpx.Client,
    reviews: list[Review],
    raw: bytes,
    status: int,
    words: str,
) -> None:
    answered_status, headers, body = parse_answer(send_raw(server.base_url, raw))
    assert answered_status == status, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert words.lower() in problem["detail"].lower(), problem
    assert_answers_right([client.get(PRODUCT)], reviews)


def test_sql_injection_left_the_reviews_in_place(
    backend: str,
    client: httpx.Client,
    reviews: list[Review],
    request: pytest.FixtureRequest,
) -> None:
    for text in SQL_INJECTIONS.values():
        assert client.get(summary_path("products", text)).status_code == 404
        assert client.get(summary_path("reviewers", text)).status_code == 404
    assert review_count(backend, request) == len(reviews)


def test_a_slow_client_times_out_without_holding_up_others(
    database_url: str, serve: Serve, reviews: list[Review]
) -> None:
    server = serve(database_url, REQUEST_TIMEOUT_S="2")
    with server.client() as client:  # warm: a first answer's start-up is not a hold-up
        assert_answers_right([client.get(PRODUCT)], reviews)
    host, port = server.base_url.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port)), timeout=5) for _ in range(10)]
    try:
        started = time.monotonic()
        for sock in slow:  # half a request head, then nothing
            sock.sendall(b"GET " + PRODUCT.encode() + b" HTTP/1.1\r\nHost: t\r\n")
        with server.client() as client:
            while time.monotonic() - started < 1.5:
                response, elapsed = timed_get(client, PRODUCT)
                assert_answers_right([response], reviews)
                # Held up would mean waiting for the slow clients' 2 s; an answer takes a few
                # ms, so 0.5 s leaves a wide margin for a loaded machine.
                assert elapsed < 0.5
        for sock in slow:
            answer = read_to_end(sock)
            waited = time.monotonic() - started
            # REQUEST_TIMEOUT_S, then up to 2 s for Sanic's timeout check on a loaded machine.
            assert 2 <= waited < 2 + 2
            # Sanic answers 408 (as problem+json) before it closes the connection.
            status, headers, body = parse_answer(answer)
            assert status == 408
            assert headers["content-type"] == "application/problem+json"
            assert json.loads(body)["status"] == 408
    finally:
        for sock in slow:
            sock.close()


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
