"""The service's own routes: the index and the health probes."""

from __future__ import annotations

import httpx

from service import __version__
from service.catalog import load_catalog

ENDPOINTS = load_catalog().endpoints


def test_index_lists_the_catalog(client: httpx.Client) -> None:
    body = client.get("/").json()
    assert body["service"] == "reviews-api"
    assert body["version"] == __version__
    paths = [route["path"] for route in body["routes"]]
    assert paths[: len(ENDPOINTS)] == [endpoint.path for endpoint in ENDPOINTS]
    assert {"/health/live", "/health/ready"} <= set(paths)


def test_liveness_and_readiness(client: httpx.Client) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready", "replay_lag_s": 0}
