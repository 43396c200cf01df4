"""Structured access logs and Prometheus metrics summed over all workers, on both backends
(PostgreSQL with its response cache serving: a cached answer is logged and counted too)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import (
    RunningServer,
    log_lines,
    send_raw,
    start_server,
    stop_server,
    wait_for_log_lines,
    wait_until_caching,
)
from postgres_server import ThrowawayDatabase
from review_rows import generate_reviews, write_postgres

DATA = "/v1/products/ENDS/reviews/summary"
KEY = "observability-test-key"


def access_lines(server: RunningServer) -> list[dict[str, Any]]:
    return [line for line in log_lines(server) if line["logger"] == "reviews_api.access"]


def is_access_line(line: dict[str, Any]) -> bool:
    return bool(line["logger"] == "reviews_api.access")


@pytest.fixture(scope="module")
def logged_server(
    backend: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("logs") / "server.log",
        LOG_LEVEL="INFO",
        API_KEYS=hashlib.sha256(KEY.encode()).hexdigest(),
    )
    if backend == "postgres":
        wait_until_caching(server)
    yield server
    stop_server(server)


@pytest.mark.parametrize("request_id", ["req-1", "req-2"])  # on PostgreSQL, a miss then a hit
def test_every_line_is_json_and_each_request_logs_one_access_line(
    logged_server: RunningServer, request_id: str
) -> None:
    with logged_server.client() as client:
        client.get(DATA, headers={"Authorization": f"Bearer {KEY}", "X-Request-ID": request_id})
    (line,) = wait_for_log_lines(
        logged_server, lambda entry: is_access_line(entry) and entry["request_id"] == request_id
    )
    raw = [line for line in logged_server.log().splitlines() if line.strip()]
    assert raw and all(line.startswith("{") for line in raw), raw[:3]
    assert line["method"] == "GET"
    assert line["route"] == "/v1/products/{product_id}/reviews/summary"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["client"] == "127.0.0.1"
    assert line["key_id"] == hashlib.sha256(KEY.encode()).hexdigest()[:8]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123_X.y:z", True), ("x" * 65, False), ("has space", False), ('quote"d', False)],
)
def test_request_id_is_echoed_when_valid_else_replaced(
    logged_server: RunningServer, sent: str, kept: bool
) -> None:
    with logged_server.client() as client:
        response = client.get("/health/live", headers={"X-Request-ID": sent})
    echoed = response.headers["x-request-id"]
    assert (echoed == sent) if kept else re.fullmatch(r"[0-9a-f]{32}", echoed)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("POST", DATA, 405), ("GET", "/v1/products//reviews/summary", 404)],
)
def test_what_sanic_refuses_is_logged_and_tagged_too(
    logged_server: RunningServer, method: str, path: str, status: int
) -> None:
    """Answers made before any route handler ran (no such route, wrong method) get a request
    id and one access line, like every other."""
    request_id = f"refused-{status}-{method}-{len(path)}"
    with logged_server.client() as client:
        response = client.request(method, path, headers={"X-Request-ID": request_id})
    assert response.status_code == status
    assert response.headers["x-request-id"] == request_id
    (line,) = wait_for_log_lines(
        logged_server, lambda entry: is_access_line(entry) and entry["request_id"] == request_id
    )
    assert (line["method"], line["status"]) == (method, status)
    assert line["route"] == "unmatched"  # no route took the request


def test_no_query_string_path_or_secret_is_logged(logged_server: RunningServer) -> None:
    with logged_server.client() as client:
        client.get(
            "/v1/products/SECRET-PRODUCT/reviews/summary?from=2016-01-01&token=hunter2",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        client.get(DATA, headers={"Authorization": "Bearer wrong-secret-key"})
    # Both requests' lines are written: nothing below can be missing for want of a flush.
    wait_for_log_lines(logged_server, lambda line: is_access_line(line) and line["status"] == 400)
    wait_for_log_lines(logged_server, lambda line: is_access_line(line) and line["status"] == 401)
    text = logged_server.log()
    for secret in ("hunter2", "SECRET-PRODUCT", "from=", KEY, "wrong-secret-key"):
        assert secret not in text


def test_metrics_are_prometheus_text_counting_every_request(logged_server: RunningServer) -> None:
    route = "/v1/products/{product_id}/reviews/summary"
    keyed = {"Authorization": f"Bearer {KEY}"}  # /metrics needs the key when keys are on
    with logged_server.client() as client:
        before = metric_value(
            client.get("/metrics", headers=keyed).text, "reviews_api_requests_total", route=route
        )
        client.get(DATA)  # a 401: counted too
        response = client.get("/metrics", headers=keyed)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    after = metric_value(response.text, "reviews_api_requests_total", route=route, status="401")
    assert (
        after >= 1
        and metric_value(response.text, "reviews_api_requests_total", route=route) == before + 1
    )


# Secrets a client sends, each where the service must never log it.
SECRETS = {
    "query": "QuerySecret0123456789",
    "key": KEY,
    "cookie": "CookieSecret0123456789",
    "header": "HeaderSecret0123456789",
    "agent": "AgentSecret0123456789",
    "request-id": "RequestIdSecret 0123456789",  # invalid as an id (a space): never logged
}
SECRET_HEADERS = {
    "Authorization": f"Bearer {SECRETS['key']}",
    "Cookie": f"session={SECRETS['cookie']}",
    "X-Api-Key": SECRETS["header"],
    "User-Agent": SECRETS["agent"],
    "X-Request-ID": SECRETS["request-id"],
}


def test_no_secret_reaches_the_log_when_a_request_fails(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Path
) -> None:
    """A broken deployment of the SQL (views that divide by zero: an error class the service
    does not expect) makes readiness and every summary fail: a 500, logged with its
    traceback. Sanic's own error handler would log the URL, query string and all; whatever
    is logged, no query string, key or header value may be in it. (A revoked grant, the
    previous way to force this, is now a 503 of its own: test_postgres_setup.py.)"""
    database = make_database()
    write_postgres(database.owner_url, generate_reviews())
    with psycopg.connect(database.owner_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO public.data_loads (source_name, source_checksum, row_count, started_at)"
            " VALUES ('broken', 'broken', 0, now())"
        )
        for view, column, broken_column in (
            # Same names and types (smallint / smallint stays smallint), an error when read.
            ("reviews", "r.overall AS", "(r.overall / 0::smallint) AS"),
            ("data_loads", "FROM data_loads l", "FROM data_loads l WHERE l.load_id / 0 > 0"),
        ):
            row = owner.execute(
                "SELECT pg_get_viewdef(%s::regclass)", (f"review_api.{view}",)
            ).fetchone()
            assert row is not None and column in row[0]
            broken = row[0].replace(column, broken_column, 1)
            owner.execute(f"CREATE OR REPLACE VIEW review_api.{view} AS {broken}")
    server = start_server(
        database.reader_url,
        tmp_path / "server.log",
        LOG_LEVEL="DEBUG",  # every line anything logs, Sanic's own included
        API_KEYS=hashlib.sha256(KEY.encode()).hexdigest(),
    )
    try:
        query = f"?access_token={SECRETS['query']}"
        with server.client() as client:
            ready = client.get(f"/health/ready{query}", headers=SECRET_HEADERS)
            summary = client.get(DATA, headers=SECRET_HEADERS)
            refused = client.get(f"{DATA}{query}", headers=SECRET_HEADERS)
        with_body = send_raw(
            server.base_url,
            f"GET /health/live{query} HTTP/1.1\r\nHost: t\r\nCookie: {SECRET_HEADERS['Cookie']}"
            "\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".encode(),
        )
    finally:
        stop_server(server)  # flushes the log writer
    assert (ready.status_code, summary.status_code, refused.status_code) == (500, 500, 400)
    assert with_body.startswith(b"HTTP/1.1 200 ")
    text = server.log()
    for name, secret in SECRETS.items():
        assert secret not in text, f"the {name} secret is in the log"
    # The failures were logged, each with the request id its access line carries.
    errors = [json.loads(line) for line in text.splitlines() if '"level":"ERROR"' in line]
    messages = {error["message"] for error in errors}
    assert "unhandled DivisionByZeroError in GET /health/ready" in messages, messages
    assert all(re.fullmatch(r"[0-9a-f]{32}", error.get("request_id", "")) for error in errors)


def metric_value(exposition: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_are_summed_over_two_workers(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "server.log", WORKERS="2", LOG_LEVEL="INFO")
    try:
        if backend == "postgres":
            wait_until_caching(server, workers=2)  # every lookup counts from here on
        requests = 0
        for _ in range(20):  # fresh connections, so the kernel spreads them over the workers
            with httpx.Client(base_url=server.base_url) as client:
                for _ in range(5):
                    assert client.get(DATA).status_code == 200
                    requests += 1
            lines = wait_for_log_lines(server, is_access_line, count=requests)
            pids = {line["pid"] for line in lines}
            if len(pids) >= 2 and requests >= 40:
                break
        assert len(pids) == 2, "both workers must have answered some requests"
        route = "/v1/products/{product_id}/reviews/summary"
        for _ in range(6):  # each scrape may be answered by either worker: all see the sum
            with httpx.Client(base_url=server.base_url) as client:
                exposition = client.get("/metrics").text
            assert metric_value(exposition, "reviews_api_requests_total", route=route) == requests
            assert (
                metric_value(exposition, "reviews_api_request_duration_seconds_count", route=route)
                == requests
            )
        for name in (
            "reviews_api_db_query_duration_seconds_count",
            "reviews_api_db_pool_size",
            "reviews_api_db_pool_in_use",
            "reviews_api_db_pool_waiting",
            "reviews_api_data_load_id",
            "reviews_api_data_loaded_timestamp_seconds",
            "reviews_api_build_info",
        ):
            assert name in exposition, name
        queries = metric_value(
            exposition,
            "reviews_api_db_query_duration_seconds_count",
            query="product_review_summary",
        )
        if backend == "sqlite":  # no response cache: every request queries
            assert queries == requests
        else:  # each worker queried on its first request, and answered the others from cache
            hits, misses = cache_lookups(server, requests)
            assert queries == misses and hits == requests - misses and hits > 0
    finally:
        stop_server(server)


def cache_lookups(server: RunningServer, requests: int) -> tuple[float, float]:
    """(hits, misses) once the workers' cache samples (taken once a second) count `requests`
    lookups in all."""
    deadline = time.monotonic() + 10
    while True:
        with httpx.Client(base_url=server.base_url) as client:
            exposition = client.get("/metrics").text
        name = "reviews_api_response_cache_lookups_total"
        hits = metric_value(exposition, name, result="hit")
        misses = metric_value(exposition, name, result="miss")
        if hits + misses == requests or time.monotonic() > deadline:
            assert hits + misses == requests, exposition
            return hits, misses
        time.sleep(0.1)
