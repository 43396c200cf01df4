"""Every summary endpoint, every date-filter combination, against the plain-Python oracle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import oracle
import pytest
from conftest import summary_path
from review_rows import AWKWARD_IDS, Review

Oracle = Callable[[list[Review], str, date | None, date | None], dict[str, Any] | None]
ENDPOINTS: dict[str, tuple[Oracle, Callable[[Review], str]]] = {
    "products": (oracle.product_summary, lambda r: r.productID),
    "reviewers": (oracle.reviewer_summary, lambda r: r.reviewerID),
}


def _periods(days: list[date]) -> dict[str, tuple[date | None, date | None]]:
    """Named (from, to) pairs relative to one entity's review days."""
    first, last = min(days), max(days)
    middle = first + (last - first) / 2
    return {
        "all time": (None, None),
        "from only": (middle, None),
        "to only": (None, middle),
        "both": (first - timedelta(days=1), middle),
        "inside the ends": (first + timedelta(days=1), max(first + timedelta(days=1), middle)),
        "exact ends": (first, last),
        "first day only": (first, first),
        "last day only": (last, last),
        "before any review": (date(1900, 1, 1), first - timedelta(days=1)),
        "after every review": (last + timedelta(days=1), date(2999, 12, 31)),
    }


@pytest.mark.parametrize("kind", ["products", "reviewers"])
@pytest.mark.parametrize("period_name", list(_periods([date(2000, 1, 1)])))
def test_summary_matches_oracle(
    client: httpx.Client, reviews: list[Review], kind: str, period_name: str
) -> None:
    expected_body, entity_of = ENDPOINTS[kind]
    entity_ids = sorted({entity_of(r) for r in reviews})
    mismatches = []
    for entity_id in entity_ids:
        days = [r.day for r in reviews if entity_of(r) == entity_id]
        date_from, date_to = _periods(days)[period_name]
        response = client.get(summary_path(kind, entity_id, date_from, date_to))
        expected = expected_body(reviews, entity_id, date_from, date_to)
        if response.status_code != 200 or response.json() != expected:
            mismatches.append((entity_id, response.status_code, response.text, expected))
    assert not mismatches, mismatches[:3]


@pytest.mark.parametrize("kind", ["products", "reviewers"])
def test_awkward_ids_round_trip(client: httpx.Client, kind: str) -> None:
    """Quotes, %, _, unicode and SQL fragments are just ids: echoed, never interpreted."""
    id_field = f"{kind[:-1]}_id"
    for entity_id in AWKWARD_IDS:
        response = client.get(summary_path(kind, entity_id))
        assert response.status_code == 200, (entity_id, response.text)
        assert response.json()[id_field] == entity_id


def test_field_order_is_the_documented_one(client: httpx.Client) -> None:
    product = client.get(summary_path("products", "ENDS")).json()
    assert list(product) == [
        "product_id",
        "period",
        "review_count",
        "average_rating",
        "rating_distribution",
        "verified_review_count",
        "helpful_votes",
        "distinct_reviewers",
        "first_review_date",
        "last_review_date",
    ]
    reviewer = client.get(summary_path("reviewers", "TIE")).json()
    assert list(reviewer)[:3] == ["reviewer_id", "reviewer_name", "period"]
    assert "distinct_products" in reviewer and "distinct_reviewers" not in reviewer


@pytest.mark.parametrize(
    ("path", "field", "expected"),
    [
        # Two reviews on the same latest day: the higher index's name wins.
        ("/v1/reviewers/TIE/reviews/summary", "reviewer_name", "Last"),
        # The name is over all time, whatever the period asked.
        ("/v1/reviewers/TIE/reviews/summary?to=2003-12-31", "reviewer_name", "Last"),
        ("/v1/reviewers/NAMELESS/reviews/summary", "reviewer_name", None),
        # Latest by time of day, not by row: the 23:59:59 review beats a later row at 00:00.
        ("/v1/reviewers/EVENING/reviews/summary", "reviewer_name", "Evening"),
        # A review at 23:59:59 belongs to its own UTC day, not the next one.
        ("/v1/products/ENDS/reviews/summary?from=2018-09-28", "review_count", 1),
        ("/v1/products/CLOCK/reviews/summary?to=2012-02-28", "review_count", 3),
        ("/v1/products/CLOCK/reviews/summary?from=2012-02-29&to=2012-02-29", "review_count", 3),
        ("/v1/products/CLOCK/reviews/summary?from=2012-03-01", "first_review_date", "2012-03-01"),
        ("/v1/products/CLOCK/reviews/summary?to=2012-02-29", "last_review_date", "2012-02-29"),
        ("/v1/products/SINGLE/reviews/summary", "helpful_votes", 1078),
        ("/v1/products/ENDS/reviews/summary", "first_review_date", "2003-10-28"),
        ("/v1/products/ENDS/reviews/summary", "last_review_date", "2018-09-28"),
        ("/v1/products/ONE-DAY/reviews/summary", "average_rating", 8 / 3),
    ],
)
def test_rules_on_edge_cases(client: httpx.Client, path: str, field: str, expected: Any) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()[field] == expected


def test_known_id_with_empty_period_is_200_with_zeros(client: httpx.Client) -> None:
    body = client.get("/v1/products/ENDS/reviews/summary?from=2004-01-01&to=2004-01-31").json()
    assert body["review_count"] == 0
    assert body["average_rating"] is None
    assert body["rating_distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert body["first_review_date"] is None and body["last_review_date"] is None
    assert body["period"] == {"from": "2004-01-01", "to": "2004-01-31"}
