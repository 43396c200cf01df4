"""The request path with the response cache serving, as on PostgreSQL once a worker
listens for loads. SQLite never notifies, so here the app is told a data version directly
(`DataVersion.changed`, what the listener calls), and the store's live load stands in for
a read database that has that load; everything else is the real path.

A cache that mixed up its keys would serve one request's answer to another: JSON for CSV,
one period's figures for another's, a 404 for a known id. Each answer is therefore asked
twice (a miss, then a hit) and compared with the oracle both times."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import oracle
import pytest
from conftest import summary_path
from in_process import InProcessServer, serving
from review_rows import Review

from service.http.response_cache import ResponseCache


@pytest.fixture
def cached(sqlite_url: str) -> Iterator[InProcessServer]:
    with serving(sqlite_url) as server:
        server.call(_listening(server))
        yield server


async def _listening(server: InProcessServer) -> None:
    await serve_version(server, "7")


async def serve_version(server: InProcessServer, version: str) -> None:
    """Announce load `version` as the listener would, with the read database showing it
    (the store's `current_load`, replaced), and wait until the worker has switched to it."""

    async def current_load() -> tuple[str, float | None]:
        return version, None

    data_version = server.app.ctx.data_version
    server.app.ctx.store.current_load = current_load
    data_version.changed(version, None)
    while data_version.served != version:
        await asyncio.sleep(0.001)


def cache_of(server: InProcessServer) -> ResponseCache:
    cache: ResponseCache = server.app.ctx.response_cache
    return cache


REQUESTS: list[tuple[str, str, date | None, date | None, dict[str, str]]] = [
    ("products", "ENDS", None, None, {}),
    ("products", "ENDS", None, None, {"Accept": "text/csv"}),
    ("products", "ENDS", date(2003, 10, 28), None, {}),
    ("products", "ENDS", None, date(2003, 10, 28), {}),
    ("products", "CLOCK", None, None, {}),
    ("reviewers", "CLOCK", None, None, {}),
    ("reviewers", "CLOCK", date(2012, 2, 29), date(2012, 2, 29), {}),
    ("reviewers", "ENDS", None, None, {}),  # no such reviewer: a 404, cached too
]


def expected(reviews: list[Review], kind: str, entity: str, *period: date | None) -> Any:
    oracle_of = oracle.product_summary if kind == "products" else oracle.reviewer_summary
    return oracle_of(reviews, entity, *period)


def body_of(response: httpx.Response) -> Any:
    if response.status_code == 404:
        return None
    if response.headers["content-type"].startswith("text/csv"):
        header, row = csv.reader(io.StringIO(response.text))
        return dict(zip(header, row, strict=True))
    return response.json()


def test_every_answer_is_its_own_request_s_miss_or_hit(
    cached: InProcessServer, reviews: list[Review]
) -> None:
    with cached.client() as client:
        for round_number in range(2):  # misses, then hits
            for kind, entity, date_from, date_to, headers in REQUESTS:
                response = client.get(
                    summary_path(kind, entity, date_from, date_to), headers=headers
                )
                want = expected(reviews, kind, entity, date_from, date_to)
                if "Accept" in headers:
                    assert response.headers["content-type"] == "text/csv; charset=utf-8"
                    assert body_of(response)["review_count"] == str(want["review_count"])
                else:
                    assert body_of(response) == want, (round_number, kind, entity)
    cache = cache_of(cached)
    assert (cache.misses, cache.hits) == (len(REQUESTS), len(REQUESTS))
    assert len(cache) == len(REQUESTS)


def test_format_and_accept_share_one_entry_and_tag(cached: InProcessServer) -> None:
    path = summary_path("products", "ENDS")
    with cached.client() as client:
        by_parameter = client.get(path + "?format=csv")
        by_header = client.get(path, headers={"Accept": "text/csv"})
    assert by_parameter.content == by_header.content
    assert by_parameter.headers["etag"] == by_header.headers["etag"]
    assert by_parameter.headers["etag"].startswith('"7-')
    assert (cache_of(cached).misses, cache_of(cached).hits) == (1, 1)


def test_a_cached_answer_keeps_its_headers_and_conditional_get(cached: InProcessServer) -> None:
    path = summary_path("products", "ENDS")
    with cached.client() as client:
        first = client.get(path)
        second = client.get(path)
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    for header in ("etag", "cache-control", "vary", "content-type"):
        assert second.headers[header] == first.headers[header], header
    assert second.content == first.content
    assert again.status_code == 304 and again.content == b""


def test_a_new_version_empties_the_cache(cached: InProcessServer, reviews: list[Review]) -> None:
    path = summary_path("products", "ENDS")
    with cached.client() as client:
        old_tag = client.get(path).headers["etag"]
        cached.call(_new_version(cached))
        response = client.get(path)
    assert response.headers["etag"] != old_tag and response.headers["etag"].startswith('"8-')
    assert response.json() == expected(reviews, "products", "ENDS", None, None)


async def _new_version(server: InProcessServer) -> None:
    await serve_version(server, "8")
