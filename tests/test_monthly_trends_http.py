"""The monthly trends through HTTP on both backends, against the oracle: the routes the
catalog makes of the COMMENTs of migrations/postgres/0010.monthly-trends.sql,
GET /v1/products/{product_id}/reviews/monthly and /v1/reviewers/{reviewer_id}/reviews/monthly,
served by the generic request path with no Python written for them.

The same periods as tests/test_monthly_trends.py (SQL level) over the suite's test rows;
CLOCK has reviews at 00:00:00, 12:00:00 and 23:59:59 UTC on 2012-02-28, the 29th (the last
day of February) and 2012-03-01, so the month boundary at UTC midnight is exercised here, and
ENDS has one review on the first day of the data and one on the last, 178 empty months apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import oracle
import pytest
from review_rows import Review
from test_monthly_trends import month_periods

Body = Callable[[list[Review], str, date | None, date | None], dict[str, Any] | None]
KINDS: dict[str, tuple[Body, Callable[[Review], str]]] = {
    "products": (oracle.product_monthly, lambda r: r.productID),
    "reviewers": (oracle.reviewer_monthly, lambda r: r.reviewerID),
}
MONTH_FIELDS = [
    "month",
    "review_count",
    "average_rating",
    "rating_distribution",
    "verified_review_count",
    "helpful_votes",
]


def monthly_path(
    kind: str, entity_id: str, date_from: date | None = None, date_to: date | None = None
) -> str:
    """/v1/{products|reviewers}/{id}/reviews/monthly with the id percent-encoded."""
    bounds = (("from", date_from), ("to", date_to))
    query = "&".join(f"{name}={day.isoformat()}" for name, day in bounds if day is not None)
    path = f"/v1/{kind}/{quote(entity_id, safe='')}/reviews/monthly"
    return f"{path}?{query}" if query else path


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("period_name", list(month_periods([date(2000, 1, 1)])))
def test_monthly_matches_oracle(
    client: httpx.Client, reviews: list[Review], kind: str, period_name: str
) -> None:
    expected_body, id_of = KINDS[kind]
    mismatches = []
    for entity_id in sorted({id_of(r) for r in reviews}):
        days = [r.day for r in reviews if id_of(r) == entity_id]
        date_from, date_to = month_periods(days)[period_name]
        response = client.get(monthly_path(kind, entity_id, date_from, date_to))
        expected = expected_body(reviews, entity_id, date_from, date_to)
        if response.status_code != 200 or response.json() != expected:
            mismatches.append((entity_id, response.status_code, response.text[:300], expected))
    assert not mismatches, mismatches[:2]


@pytest.mark.parametrize(
    ("kind", "query", "months"),
    [
        ("products", "", [("2012-02", 6), ("2012-03", 3)]),
        # 23:59:59 on the 29th is February's; 00:00:00 on the 1st is March's.
        ("products", "?to=2012-02-29", [("2012-02", 6)]),
        ("products", "?from=2012-03-01", [("2012-03", 3)]),
        ("products", "?from=2012-02-29&to=2012-03-01", [("2012-02", 3), ("2012-03", 3)]),
        ("reviewers", "?from=2012-02-29&to=2012-02-29", [("2012-02", 3)]),
        ("reviewers", "?from=2012-03-01&to=2012-03-31", [("2012-03", 3)]),
    ],
)
def test_months_change_at_utc_midnight(
    client: httpx.Client, kind: str, query: str, months: list[tuple[str, int]]
) -> None:
    response = client.get(f"/v1/{kind}/CLOCK/reviews/monthly{query}")
    assert response.status_code == 200, response.text
    assert [(m["month"], m["review_count"]) for m in response.json()["months"]] == months


def test_months_without_reviews_are_zeros(client: httpx.Client) -> None:
    """ENDS: 2003-10-28 and 2018-09-28, every month between them listed, with zeros."""
    months = client.get("/v1/products/ENDS/reviews/monthly").json()["months"]
    assert len(months) == 180
    assert (months[0]["month"], months[-1]["month"]) == ("2003-10", "2018-09")
    assert months[0]["review_count"] == months[-1]["review_count"] == 1
    assert months[1] == {
        "month": "2003-11",
        "review_count": 0,
        "average_rating": None,
        "rating_distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "verified_review_count": 0,
        "helpful_votes": 0,
    }
    assert all(month["review_count"] == 0 for month in months[1:-1])


def test_field_order_is_the_documented_one(client: httpx.Client) -> None:
    product = client.get("/v1/products/CLOCK/reviews/monthly").json()
    assert list(product) == ["product_id", "period", "months"]
    assert [list(month) for month in product["months"]] == [MONTH_FIELDS, MONTH_FIELDS]
    reviewer = client.get("/v1/reviewers/CLOCK/reviews/monthly").json()
    assert list(reviewer) == ["reviewer_id", "period", "months"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_nothing_in_range_is_200_with_no_months(client: httpx.Client, kind: str) -> None:
    response = client.get(f"/v1/{kind}/CLOCK/reviews/monthly?from=2012-04-01&to=2012-12-31")
    assert response.status_code == 200, response.text
    assert response.json() == {
        f"{kind[:-1]}_id": "CLOCK",
        "period": {"from": "2012-04-01", "to": "2012-12-31"},
        "months": [],
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_id_is_404(client: httpx.Client, kind: str) -> None:
    response = client.get(monthly_path(kind, "NO-SUCH-ID", date(2016, 1, 1)))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": f"no reviews at all for {kind[:-1]}_id 'NO-SUCH-ID'",
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_from_after_to_is_400(client: httpx.Client, kind: str) -> None:
    response = client.get(f"/v1/{kind}/CLOCK/reviews/monthly?from=2016-01-02&to=2016-01-01")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/invalid-parameter",
        "title": "Bad Request",
        "status": 400,
        "detail": "from (2016-01-02) is after to (2016-01-01)",
        "parameter": "from",
    }
