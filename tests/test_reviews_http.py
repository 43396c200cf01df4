"""The review lists through HTTP on both backends, against the oracle: the routes the catalog
makes of the COMMENTs of migrations/postgres/0011.batches-reviews-dataset.sql,
GET /v1/products/{product_id}/reviews and /v1/reviewers/{reviewer_id}/reviews, served by the
generic request path with no Python written for them (docs/api-catalog.md: @limit, @cursor,
@hidden).

A page is {"items": [...], "next": "<relative URL>" | null} with a `Link: <...>; rel="next"`
header when there is a next page. Every list is walked through its `next` links: the pages
put together are the oracle's whole order (no review twice, none missing), for both sorts,
through ties of time (ONE-DAY: two reviews at the same second) and of votes (CLOCK, and
every review without votes). The cursor is the service's: only its behaviour is tested (a
cursor of another sort, period or id is a 400; one made before a load a 409)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import oracle
import pytest
from conftest import RunningServer, run_cli, start_server, stop_server
from postgres_server import ThrowawayDatabase
from review_rows import Review, write_sqlite
from test_data_freshness import live_load, wait_until_serving

SORTS = ["recent", "helpful"]
Items = Callable[[list[Review], str, date | None, date | None, str], list[dict[str, Any]] | None]
# kind: (the oracle's items, the review's id of that kind, the other party's field)
KINDS: dict[str, tuple[Items, Callable[[Review], str], str]] = {
    "products": (oracle.product_reviews, lambda r: r.productID, "reviewer_id"),
    "reviewers": (oracle.reviewer_reviews, lambda r: r.reviewerID, "product_id"),
}
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "five years": (date(2012, 1, 1), date(2016, 12, 31)),
}
REVIEW_FIELDS = [
    "review_index",
    "{other}",
    "reviewer_name",
    "review_date",
    "rating",
    "verified",
    "helpful_votes",
    "summary",
    "review_text",
]
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def reviews_path(
    kind: str,
    entity_id: str,
    date_from: date | None = None,
    date_to: date | None = None,
    **query: Any,
) -> str:
    """/v1/{products|reviewers}/{id}/reviews with the id percent-encoded."""
    pairs = [(name, day.isoformat()) for name, day in (("from", date_from), ("to", date_to)) if day]
    pairs += [(name, str(value)) for name, value in query.items()]
    path = f"/v1/{kind}/{quote(entity_id, safe='')}/reviews"
    return f"{path}?{urlencode(pairs, quote_via=quote, safe='')}" if pairs else path


def walk(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Every page from `path` on, through the `next` links, each checked for its shape."""
    pages = []
    while path is not None:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert list(body) == ["items", "next"], body
        if body["next"] is None:
            assert "link" not in response.headers, response.headers
        else:
            link = LINK.match(response.headers["link"])
            assert link is not None and link["url"] == body["next"], response.headers
            assert body["next"].startswith("/v1/"), body["next"]
        pages.append(body)
        path = body["next"]
        assert len(pages) <= 1000, "the pages do not end"
    return pages


def every_item(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["items"]]


def assert_problem(response: httpx.Response, status: int, problem_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == problem_type and body["status"] == status, body
    return body


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("period_name", list(PERIODS))
def test_every_page_of_every_list_matches_oracle(
    client: httpx.Client, reviews: list[Review], kind: str, sort: str, period_name: str
) -> None:
    expected_items, id_of, _ = KINDS[kind]
    date_from, date_to = PERIODS[period_name]
    mismatches = []
    for entity_id in sorted({id_of(r) for r in reviews}):
        pages = walk(client, reviews_path(kind, entity_id, date_from, date_to, sort=sort, limit=4))
        got = every_item(pages)
        assert all(len(page["items"]) <= 4 for page in pages)
        assert all(len(page["items"]) == 4 for page in pages[:-1]), "a short page before the end"
        expected = expected_items(reviews, entity_id, date_from, date_to, sort)
        if got != expected:
            mismatches.append((entity_id, sort, got, expected))
    assert not mismatches, mismatches[:1]


@pytest.mark.parametrize(
    ("kind", "entity_id", "sort"),
    [
        ("products", "ONE-DAY", "recent"),  # two reviews at the same second
        ("products", "CLOCK", "helpful"),  # three with 1,078 votes, six with none or 0
        ("reviewers", "CLOCK", "helpful"),
        ("reviewers", "TIE", "recent"),
    ],
)
@pytest.mark.parametrize("limit", [1, 2])
def test_ties_are_ordered_by_review_id(
    client: httpx.Client,
    reviews: list[Review],
    kind: str,
    entity_id: str,
    sort: str,
    limit: int,
) -> None:
    expected_items, _, _ = KINDS[kind]
    got = every_item(walk(client, reviews_path(kind, entity_id, sort=sort, limit=limit)))
    assert got == expected_items(reviews, entity_id, None, None, sort)
    assert len({item["review_index"] for item in got}) == len(got)


@pytest.mark.parametrize("kind", list(KINDS))
def test_default_is_twenty_newest_first(
    client: httpx.Client, reviews: list[Review], kind: str
) -> None:
    expected_items, id_of, _ = KINDS[kind]
    busiest = max({id_of(r) for r in reviews}, key=lambda i: sum(id_of(r) == i for r in reviews))
    expected = expected_items(reviews, busiest, None, None, "recent") or []
    assert len(expected) > 20
    pages = walk(client, reviews_path(kind, busiest))
    assert [len(page["items"]) for page in pages[:-1]] == [20] * (len(pages) - 1)
    assert every_item(pages) == expected
    # The next link carries what the client left to the defaults, or not: either way the
    # second page is the second page.
    assert pages[1]["items"] == expected[20:40]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_hundred_per_page(client: httpx.Client, reviews: list[Review], kind: str) -> None:
    expected_items, id_of, _ = KINDS[kind]
    for entity_id in sorted({id_of(r) for r in reviews})[:5]:
        (page,) = walk(client, reviews_path(kind, entity_id, limit=100, sort="helpful"))
        assert page["items"] == expected_items(reviews, entity_id, None, None, "helpful")
        assert page["next"] is None


@pytest.mark.parametrize(
    ("kind", "other"), [("products", "reviewer_id"), ("reviewers", "product_id")]
)
def test_items_have_the_documented_fields_and_types(
    client: httpx.Client, kind: str, other: str
) -> None:
    """In this order, with JSON types the schema says (a boolean `verified` whatever the
    backend stores); the hidden sort value is not shown."""
    items = every_item(walk(client, reviews_path(kind, "CLOCK", limit=100)))
    fields = [field.format(other=other) for field in REVIEW_FIELDS]
    assert [list(item) for item in items] == [fields] * 9
    for item in items:
        assert type(item["review_index"]) is int and type(item[other]) is str
        assert type(item["rating"]) is int and 1 <= item["rating"] <= 5
        assert item["verified"] is None or type(item["verified"]) is bool, item
        assert type(item["helpful_votes"]) is int and item["helpful_votes"] >= 0
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["review_date"])
    assert {item["verified"] for item in items} == {True, False, None}


@pytest.mark.parametrize("kind", list(KINDS))
def test_nothing_in_the_period_is_an_empty_page(client: httpx.Client, kind: str) -> None:
    response = client.get(reviews_path(kind, "CLOCK", date(2012, 4, 1), date(2012, 12, 31)))
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next": None}


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_id_is_404(client: httpx.Client, kind: str) -> None:
    response = client.get(reviews_path(kind, "NO-SUCH-ID", sort="helpful"))
    body = assert_problem(response, 404, "/problems/not-found")
    assert body["detail"] == f"no reviews at all for {kind[:-1]}_id 'NO-SUCH-ID'"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("limit=5&limit=5", "limit"),
        ("sort=oldest", "sort"),
        ("sort=", "sort"),
        ("sort=RECENT", "sort"),
        ("from=2016-01-02&to=2016-01-01", "from"),
        ("after=", "after"),
        ("after=not-a-cursor", "after"),
    ],
)
def test_bad_parameters_are_400(
    client: httpx.Client, kind: str, query: str, parameter: str
) -> None:
    response = client.get(f"{reviews_path(kind, 'CLOCK')}?{query}")
    body = assert_problem(response, 400, "/problems/invalid-parameter")
    assert body["parameter"] == parameter, body


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", ["after_value", "after_index", "max_rows", "sort_value", "offset"])
def test_the_cursor_arguments_are_not_parameters(
    client: httpx.Client, kind: str, name: str
) -> None:
    """Only `after` sets them, from a previous page; the SQL names are not public."""
    response = client.get(f"{reviews_path(kind, 'CLOCK')}?{name}=1")
    assert response.status_code == 400, response.text
    assert f"unknown query parameter '{name}'" in response.json()["detail"]


def second_page_with(next_path: str, **changes: str) -> str:
    """The next link with some of its other parameters changed (the cursor kept)."""
    parts = urlsplit(next_path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | changes
    return f"{parts.path}?{urlencode(query, quote_via=quote, safe='')}"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "changes",
    [{"sort": "helpful"}, {"from": "2003-01-01"}, {"to": "2018-12-31"}],
    ids=["another sort", "another from", "another to"],
)
def test_a_cursor_does_not_fit_another_request(
    client: httpx.Client, kind: str, changes: dict[str, str]
) -> None:
    """A cursor is the position in one list: with another sort or period it is a 400, not
    a page of another list starting at a meaningless place."""
    first = client.get(reviews_path(kind, "CLOCK", sort="recent", limit=2)).json()
    response = client.get(second_page_with(first["next"], **changes))
    body = assert_problem(response, 400, "/problems/invalid-parameter")
    assert body["parameter"] == "after", body


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_cursor_does_not_fit_another_id(client: httpx.Client, kind: str) -> None:
    first = client.get(reviews_path(kind, "CLOCK", limit=2)).json()
    after = dict(parse_qsl(urlsplit(first["next"]).query))["after"]
    response = client.get(reviews_path(kind, "TIE", limit=2, after=after))
    body = assert_problem(response, 400, "/problems/invalid-parameter")
    assert body["parameter"] == "after", body


# --- A load between two pages (PostgreSQL: loads are what change the data version) --------


@pytest.fixture
def reloadable(
    make_database: Callable[[], ThrowawayDatabase],
    reviews: list[Review],
    tmp_path: Path,
) -> Iterator[tuple[ThrowawayDatabase, Path, RunningServer]]:
    """A fresh database holding one load of the rows, its source file, and a server on it
    that logs the data version it serves."""
    database = make_database()
    source = write_sqlite(tmp_path / "reviews.sqlite", reviews)
    run_cli("load", "--source", str(source), "--database-url", database.owner_url)
    server = start_server(database.reader_url, tmp_path / "server.log", LOG_LEVEL="INFO")
    try:
        yield database, source, server
    finally:
        stop_server(server)


@pytest.mark.parametrize("sort", SORTS)
def test_a_cursor_from_before_a_load_is_409(
    reloadable: tuple[ThrowawayDatabase, Path, RunningServer], reviews: list[Review], sort: str
) -> None:
    """The same rows loaded again: the positions would still mean something here, but the
    service cannot know that of a load; the client starts again from the first page."""
    database, source, server = reloadable
    with server.client() as client:
        first = client.get(reviews_path("products", "CLOCK", sort=sort, limit=2))
        assert first.status_code == 200, first.text
        next_path = first.json()["next"]
        assert client.get(next_path).status_code == 200  # before the load: the next page

        run_cli("load", "--source", str(source), "--database-url", database.owner_url)
        version, _ = live_load(database.owner_url)
        wait_until_serving(server, version, workers=1)

        stale = client.get(next_path)
        body = assert_problem(stale, 409, "/problems/stale-cursor")
        assert "first page" in body["detail"], body
        again = every_item(walk(client, reviews_path("products", "CLOCK", sort=sort, limit=2)))
        assert again == oracle.product_reviews(reviews, "CLOCK", None, None, sort)
