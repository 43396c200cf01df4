"""The dataset summary through HTTP on both backends, against the oracle: the route the
catalog makes of the COMMENT of review_api.dataset_summary
(migrations/postgres/0011.batches-reviews-dataset.sql), GET /v1/reviews/summary, served by the
generic request path with no Python written for it.

The data version and the load time are not in the rows: on PostgreSQL they are the live
load's (review_api.data_loads: its id, and when it went live as ISO 8601 UTC to the second);
on the SQLite development file the stand-in of queries/sqlite/lookups.sql and null."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import httpx
import oracle
import pytest
from conftest import run_cli, start_server, stop_server
from postgres_server import ThrowawayDatabase
from review_rows import Review, write_sqlite
from test_data_freshness import live_load, second_load, wait_until_serving

FIELDS = [
    "review_count",
    "product_count",
    "reviewer_count",
    "first_review_date",
    "last_review_date",
    "rating_distribution",
    "data_version",
    "loaded_at",
]


def version_and_time(owner_url: str) -> tuple[str, str]:
    """The live load's id, and when it went live as the API writes it."""
    version, finished_at = live_load(owner_url)
    return version, finished_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_matches_oracle(
    client: httpx.Client, reviews: list[Review], backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        database: ThrowawayDatabase = request.getfixturevalue("api_database")
        version, loaded_at = version_and_time(database.owner_url)
    else:
        version, loaded_at = f"sqlite-{len(reviews)}-{max(r.index for r in reviews)}", None
    response = client.get("/v1/reviews/summary")
    assert response.status_code == 200, response.text
    assert response.json() == oracle.dataset_summary(reviews, version, loaded_at)


def test_field_order_is_the_documented_one(client: httpx.Client) -> None:
    body = client.get("/v1/reviews/summary").json()
    assert list(body) == FIELDS
    assert list(body["rating_distribution"]) == ["1", "2", "3", "4", "5"]


def test_no_parameters(client: httpx.Client) -> None:
    response = client.get("/v1/reviews/summary?from=2016-01-01")
    assert response.status_code == 400, response.text
    assert "unknown query parameter 'from'" in response.json()["detail"]


def test_a_load_changes_the_answer(
    make_database: Callable[[], ThrowawayDatabase], reviews: list[Review], tmp_path: Path
) -> None:
    """PostgreSQL: after another load, the new rows' figures, version and load time (the
    response cache, keyed by the data version, does not answer the old ones)."""
    database = make_database()
    first = write_sqlite(tmp_path / "first.sqlite", reviews)
    run_cli("load", "--source", str(first), "--database-url", database.owner_url)
    server = start_server(database.reader_url, tmp_path / "server.log", LOG_LEVEL="INFO")
    try:
        with server.client() as client:
            version, loaded_at = version_and_time(database.owner_url)
            assert client.get("/v1/reviews/summary").json() == oracle.dataset_summary(
                reviews, version, loaded_at
            )
            rows = second_load(reviews)
            second = write_sqlite(tmp_path / "second.sqlite", rows)
            run_cli("load", "--source", str(second), "--database-url", database.owner_url)
            version, loaded_at = version_and_time(database.owner_url)
            wait_until_serving(server, version, workers=1)
            assert client.get("/v1/reviews/summary").json() == oracle.dataset_summary(
                rows, version, loaded_at
            )
    finally:
        stop_server(server)
