"""The rankings through HTTP on both backends, against the oracle: the routes the catalog
makes of the COMMENTs of migrations/postgres/0012.rankings.sql, GET /v1/products and
GET /v1/reviewers, served by the generic request path with no Python written for them
(@limit, @cursor, @hidden of docs/api-catalog.md).

Every ranking is walked page by page through the answers' `next` links: the pages put
together are the oracle's ranking, with no item twice and none missing; each page is
`{"items": [...], "next": ...}` with a `Link: <...>; rel="next"` header while there is a next
page. A cursor does not fit another sort (400), nor outlives a load (409); min_reviews and
limit take only their documented values (400)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import oracle
import pytest
from conftest import RunningServer, run_cli, start_server, stop_server
from postgres_server import ThrowawayDatabase
from review_rows import Review, generate_reviews, write_sqlite

Ranking = Callable[..., list[dict[str, Any]]]
KINDS: dict[str, Ranking] = {
    "products": oracle.product_ranking,
    "reviewers": oracle.reviewer_ranking,
}
# (from, to): a calendar year and all time (the rollups), a mid-month range (pruning or
# the full aggregation), and an empty range.
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "calendar year 2016": (date(2016, 1, 1), date(2016, 12, 31)),
    "mid-month, about 400 days": (date(2015, 3, 15), date(2016, 4, 17)),
    "empty": (date(1900, 1, 1), date(1900, 12, 31)),
}
PROBLEM = "application/problem+json"


def ranking_url(kind: str, period: str, **parameters: Any) -> str:
    date_from, date_to = PERIODS[period]
    query = {
        **({"from": date_from.isoformat()} if date_from else {}),
        **({"to": date_to.isoformat()} if date_to else {}),
        **{name: value for name, value in parameters.items() if value is not None},
    }
    return f"/v1/{kind}?{urlencode(query)}" if query else f"/v1/{kind}"


def expected_items(reviews: list[Review], kind: str, period: str, **options: Any) -> list[Any]:
    """The oracle's ranking as the answer's items: without the hidden sort_value."""
    date_from, date_to = PERIODS[period]
    ranked = KINDS[kind](reviews, date_from, date_to, **options)
    return [{k: v for k, v in entry.items() if k != "sort_value"} for entry in ranked]


def walk(client: httpx.Client, url: str) -> Iterator[httpx.Response]:
    """Each page's answer, following `next` until it is null."""
    for _ in range(1000):
        response = client.get(url)
        yield response
        if response.status_code != 200 or response.json()["next"] is None:
            return
        url = response.json()["next"]
    raise AssertionError("more than 1000 pages")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("period", list(PERIODS))
@pytest.mark.parametrize(
    ("sort", "order", "min_reviews"),
    [
        ("review_count", "desc", 1),
        ("helpful_votes", "desc", 5),
        ("average_rating", "desc", 10),
        ("average_rating", "asc", 5),
        ("verified_review_count", "asc", 1),
    ],
)
def test_pages_put_together_are_the_oracle_ranking(
    client: httpx.Client,
    reviews: list[Review],
    kind: str,
    period: str,
    sort: str,
    order: str,
    min_reviews: int,
) -> None:
    url = ranking_url(kind, period, sort=sort, order=order, min_reviews=min_reviews, limit=7)
    items: list[Any] = []
    for response in walk(client, url):
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["items", "next"]
        assert len(body["items"]) <= 7
        items.extend(body["items"])
        if body["next"] is None:
            assert "link" not in response.headers
        else:
            assert response.headers["link"] == f'<{body["next"]}>; rel="next"'
    expected = expected_items(
        reviews, kind, period, sort=sort, order=order, min_reviews=min_reviews
    )
    assert items == expected


@pytest.mark.parametrize("kind", list(KINDS))
def test_defaults_are_twenty_most_reviewed_of_all_time(
    client: httpx.Client, reviews: list[Review], kind: str
) -> None:
    response = client.get(f"/v1/{kind}")
    assert response.status_code == 200, response.text
    assert response.json()["items"] == expected_items(reviews, kind, "all time")[:20]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_a_cursor_of_another_sort_is_400(client: httpx.Client) -> None:
    first = client.get("/v1/products?sort=review_count&limit=3").json()
    cursor = httpx.URL(first["next"]).params["after"]
    response = client.get(f"/v1/products?sort=helpful_votes&limit=3&after={cursor}")
    assert_problem(response, 400)


def test_a_cursor_that_does_not_decode_is_400(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/products?after=not-a-cursor"), 400)


@pytest.mark.parametrize(
    "query",
    ["min_reviews=7", "min_reviews=0", "limit=101", "limit=0", "sort=rating", "order=up"],
)
def test_parameters_outside_their_values_are_400(client: httpx.Client, query: str) -> None:
    assert_problem(client.get(f"/v1/reviewers?{query}"), 400)


@pytest.fixture
def reloadable_server(
    make_database: Callable[[], ThrowawayDatabase], tmp_path: Path
) -> Iterator[tuple[RunningServer, ThrowawayDatabase, Path]]:
    """A PostgreSQL database of its own (the test loads it again) and a server on it."""
    database = make_database()
    source = write_sqlite(tmp_path / "reviews.sqlite", generate_reviews())
    run_cli("load", "--source", str(source), "--database-url", database.owner_url)
    server = start_server(database.reader_url, tmp_path / "server.log")
    yield server, database, source
    stop_server(server)


def test_a_cursor_made_before_a_load_is_409(
    reloadable_server: tuple[RunningServer, ThrowawayDatabase, Path],
) -> None:
    server, database, source = reloadable_server
    with server.client() as client:
        first = client.get("/v1/products?limit=3")
        assert first.status_code == 200, first.text
        run_cli("load", "--source", str(source), "--database-url", database.owner_url)
        # The data version changes at the load's commit; the server hears of it by NOTIFY.
        for _ in range(50):
            response = client.get(first.json()["next"])
            if response.status_code != 200:
                break
        body = assert_problem(response, 409)
        assert body["type"] == "/problems/stale-cursor"
