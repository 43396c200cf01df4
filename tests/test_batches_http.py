"""The batch summaries through HTTP on both backends, against the oracle: the routes the
catalog makes of the COMMENTs of migrations/postgres/0011.batches-reviews-dataset.sql,
GET /v1/products/reviews/summary?product_id=A&product_id=B... and
/v1/reviewers/reviews/summary?reviewer_id=..., served by the generic request path with no
Python written for them (docs/api-catalog.md: an array argument is a repeated parameter,
@missing lists the ids without any review).

The answer is {"period": ..., "items": [...], "not_found": [...]}: items in the order of the
ids' first appearance in the request, each id once, each the single summary's fields with
the id first and without the period (the batch states it once); not_found the ids without
any review, in request order, once."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import oracle
import pytest
from review_rows import AWKWARD_IDS, Review

Batch = Callable[[list[Review], list[str], date | None, date | None], dict[str, Any]]
# kind: (the oracle's body, the repeated parameter, the review's id of that kind)
KINDS: dict[str, tuple[Batch, str, Callable[[Review], str]]] = {
    "products": (oracle.product_summaries, "product_id", lambda r: r.productID),
    "reviewers": (oracle.reviewer_summaries, "reviewer_id", lambda r: r.reviewerID),
}
PERIODS: dict[str, tuple[date | None, date | None]] = {
    "all time": (None, None),
    "five years": (date(2012, 1, 1), date(2016, 12, 31)),
    # CLOCK's middle day: its reviews at 00:00:00 and 23:59:59 UTC are in, the days around out.
    "one day": (date(2012, 2, 29), date(2012, 2, 29)),
    "nothing in range": (date(1900, 1, 1), date(1999, 12, 31)),
}
UNKNOWN = ["NO-SUCH-ID", "no-such-id", "P00"]
PRODUCT_FIELDS = [
    "product_id",
    "review_count",
    "average_rating",
    "rating_distribution",
    "verified_review_count",
    "helpful_votes",
    "distinct_reviewers",
    "first_review_date",
    "last_review_date",
]
REVIEWER_FIELDS = [
    "reviewer_id",
    "reviewer_name",
    "review_count",
    "average_rating",
    "rating_distribution",
    "verified_review_count",
    "helpful_votes",
    "distinct_products",
    "first_review_date",
    "last_review_date",
]


def batch_path(
    kind: str, ids: list[str], date_from: date | None = None, date_to: date | None = None
) -> str:
    """/v1/{products|reviewers}/reviews/summary with the ids as a repeated parameter, every
    character of theirs percent-encoded."""
    pairs = [(KINDS[kind][1], entity_id) for entity_id in ids]
    pairs += [
        (name, day.isoformat()) for name, day in (("from", date_from), ("to", date_to)) if day
    ]
    return f"/v1/{kind}/reviews/summary?{urlencode(pairs, quote_via=quote, safe='')}"


def assert_invalid(response: httpx.Response, parameter: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/invalid-parameter", body
    assert body["status"] == 400
    assert body["parameter"] == parameter, body


def requests_of(known: list[str], seed: int) -> list[list[str]]:
    """Every known id, with unknown ids and some ids repeated, shuffled (fixed seed), in
    requests of at most 100 ids (the API's maximum)."""
    rng = random.Random(seed)
    ids = known + UNKNOWN + rng.sample(known, 15) + UNKNOWN[:1]
    rng.shuffle(ids)
    return [ids[start : start + 100] for start in range(0, len(ids), 100)]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("period_name", list(PERIODS))
def test_batches_match_oracle(
    client: httpx.Client, reviews: list[Review], kind: str, period_name: str
) -> None:
    expected_body, _, id_of = KINDS[kind]
    date_from, date_to = PERIODS[period_name]
    for ids in requests_of(sorted({id_of(r) for r in reviews}), seed=len(period_name)):
        response = client.get(batch_path(kind, ids, date_from, date_to))
        assert response.status_code == 200, response.text
        assert response.json() == expected_body(reviews, ids, date_from, date_to), ids


@pytest.mark.parametrize(
    ("kind", "ids", "items", "not_found"),
    [
        (
            "products",
            ["SINGLE", "CLOCK", "NO-SUCH-ID", "SINGLE", "ENDS", "NO-SUCH-ID"],
            ["SINGLE", "CLOCK", "ENDS"],
            ["NO-SUCH-ID"],
        ),
        ("products", ["ENDS"] * 5, ["ENDS"], []),
        ("products", ["b", "a", "b"], [], ["b", "a"]),
        ("reviewers", ["x", "TIE", "NAMELESS", "TIE", "y", "x"], ["TIE", "NAMELESS"], ["x", "y"]),
        # Ids are compared byte for byte: another case or a trailing space is another id.
        ("reviewers", ["tie", "TIE ", "TIE"], ["TIE"], ["tie", "TIE "]),
        # Quotes, %, /, +, spaces, unicode and SQL fragments, percent-encoded and back.
        ("products", list(AWKWARD_IDS[::-1]), list(AWKWARD_IDS[::-1]), []),
    ],
)
def test_request_order_once_each_and_not_found(
    client: httpx.Client,
    reviews: list[Review],
    kind: str,
    ids: list[str],
    items: list[str],
    not_found: list[str],
) -> None:
    expected_body, parameter, _ = KINDS[kind]
    response = client.get(batch_path(kind, ids))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item[parameter] for item in body["items"]] == items
    assert body["not_found"] == not_found
    assert body == expected_body(reviews, ids, None, None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_known_id_with_nothing_in_the_period_is_an_item_of_zeros(
    client: httpx.Client, kind: str
) -> None:
    """As the single summary: known, so answered (not not_found), with zeros."""
    response = client.get(batch_path(kind, ["CLOCK"], date(2013, 1, 1), date(2013, 12, 31)))
    body = response.json()
    assert body["not_found"] == []
    (item,) = body["items"]
    assert item["review_count"] == 0 and item["average_rating"] is None
    assert item["rating_distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert item["first_review_date"] is item["last_review_date"] is None


@pytest.mark.parametrize(
    ("kind", "fields"), [("products", PRODUCT_FIELDS), ("reviewers", REVIEWER_FIELDS)]
)
def test_field_order_is_the_documented_one(
    client: httpx.Client, kind: str, fields: list[str]
) -> None:
    body = client.get(batch_path(kind, ["CLOCK", "NO-SUCH-ID"], date(2012, 1, 1))).json()
    assert list(body) == ["period", "items", "not_found"]
    assert body["period"] == {"from": "2012-01-01", "to": None}
    assert [list(item) for item in body["items"]] == [fields]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_hundred_ids_are_served_and_101_refused(
    client: httpx.Client, reviews: list[Review], kind: str
) -> None:
    expected_body, parameter, id_of = KINDS[kind]
    known = sorted({id_of(r) for r in reviews})
    hundred = known + [f"UNKNOWN-{n}" for n in range(100 - len(known))]
    response = client.get(batch_path(kind, hundred))
    assert response.status_code == 200, response.text
    assert response.json() == expected_body(reviews, hundred, None, None)
    assert_invalid(client.get(batch_path(kind, [*hundred, "one-more"])), parameter)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "query",
    [
        "",  # no id at all
        "?from=2016-01-01",  # no id, a period
        "?{p}=",  # an empty id
        "?{p}=CLOCK&{p}=",  # an empty id among others
        "?{p}=" + "x" * 65,  # over 64 characters
    ],
    ids=["no id", "no id, a period", "empty id", "empty id among others", "65 characters"],
)
def test_missing_empty_or_long_ids_are_400(client: httpx.Client, kind: str, query: str) -> None:
    parameter = KINDS[kind][1]
    assert_invalid(client.get(f"/v1/{kind}/reviews/summary{query.format(p=parameter)}"), parameter)


@pytest.mark.parametrize("kind", list(KINDS))
def test_from_after_to_is_400(client: httpx.Client, kind: str) -> None:
    response = client.get(batch_path(kind, ["CLOCK"], date(2016, 1, 2), date(2016, 1, 1)))
    assert_invalid(response, "from")
    assert response.json()["detail"] == "from (2016-01-02) is after to (2016-01-01)"


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_array_argument_is_not_a_parameter_of_its_own(client: httpx.Client, kind: str) -> None:
    """Public name only: `product_ids` (the SQL argument) is an unknown parameter."""
    response = client.get(f"/v1/{kind}/reviews/summary?{kind[:-1]}_ids=CLOCK")
    assert response.status_code == 400, response.text
    assert "unknown query parameter" in response.json()["detail"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_request_head_over_the_limit_is_413_saying_to_split_it(
    client: httpx.Client, kind: str
) -> None:
    """A hundred ids are within bounds, but a hundred of 64 CJK characters are 57 kB once
    percent-encoded: more than a request head may hold (issue 14: a 413 problem+json telling
    the client to split the batch). Real ids are 10 to 21 ASCII characters: 100 fit."""
    response = client.get(batch_path(kind, [f"{n:02d}" + "漢" * 62 for n in range(100)]))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 413
    assert "split" in body["detail"], body


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_hundred_real_sized_ids_fit_in_a_request_head(
    client: httpx.Client, reviews: list[Review], kind: str
) -> None:
    """100 ids of 21 characters (the longest real ones), percent-encoded, with a period."""
    expected_body, _, _ = KINDS[kind]
    ids = [f"B{n:020d}" for n in range(100)]
    response = client.get(batch_path(kind, ids, date(2016, 1, 1), date(2016, 12, 31)))
    assert response.status_code == 200, response.text
    assert response.json() == expected_body(reviews, ids, date(2016, 1, 1), date(2016, 12, 31))
