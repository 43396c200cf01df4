"""Settings reach the app: what `create_app` builds from them, read off the running app
(no request shows a response cache's byte bound or a shutdown grace period), and the pool
figures the app samples for /metrics once a second."""

from __future__ import annotations

import time

from conftest import summary_path
from in_process import serving
from test_observability import metric_value


def test_the_app_is_built_from_its_settings(sqlite_url: str) -> None:
    with serving(
        sqlite_url,
        CACHE_ENTRIES="123",
        CACHE_MAX_MB="3",
        REQUEST_TIMEOUT_S="7",
        GRACEFUL_SHUTDOWN_S="9",
        CACHE_MAX_AGE_S="0",
    ) as server:
        app = server.app
        assert (app.ctx.response_cache.max_entries, app.ctx.response_cache.max_bytes) == (
            123,
            3 * 1024 * 1024,
        )
        assert app.config.REQUEST_TIMEOUT == 7
        assert app.config.GRACEFUL_SHUTDOWN_TIMEOUT == 9
        assert app.config.FALLBACK_ERROR_FORMAT == "json"
        with server.client() as client:
            response = client.get(summary_path("products", "ENDS"))
        assert response.headers["cache-control"] == "public, max-age=0"


def test_pool_figures_are_sampled_for_metrics(sqlite_url: str) -> None:
    # On SQLite too the pool is DB_POOL_MAX read-only connections, all opened at start.
    with serving(sqlite_url, DB_POOL_MAX="3") as server, server.client() as client:
        deadline = time.monotonic() + 5  # sampled once a second
        while metric_value(client.get("/metrics").text, "reviews_api_db_pool_size") != 3:
            assert time.monotonic() < deadline, client.get("/metrics").text
            time.sleep(0.05)
        exposition = client.get("/metrics").text
        assert metric_value(exposition, "reviews_api_db_pool_in_use") == 0
        assert metric_value(exposition, "reviews_api_load_listener_up") == 0
        assert "reviews_api_build_info{" in exposition
