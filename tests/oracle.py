"""The expected answers, computed in plain Python over the rows a test inserted.

Deliberately written without SQL and without the service's code, so a bug in either shows
up as a difference.
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "after_cursor",
    "dataset_summary",
    "date",
    "product_monthly",
    "product_ranking",
    "product_reviews",
    "product_summaries",
    "product_summary",
    "review_sort_value",
    "reviewer_monthly",
    "reviewer_ranking",
    "reviewer_reviews",
    "reviewer_summaries",
    "reviewer_summary",
    "rollups",
]
from collections.abc import Callable, Iterable
from typing import Any

from review_rows import Review

Summary = Callable[[list[Review], str, date | None, date | None], dict[str, Any] | None]


def product_summary(
    reviews: list[Review], product_id: str, date_from: date | None, date_to: date | None
) -> dict[str, Any] | None:
    """The body of GET /v1/products/{product_id}/reviews/summary, or None for a 404."""
    own = [r for r in reviews if r.productID == product_id]
    if not own:
        return None
    chosen = _in_period(own, date_from, date_to)
    return {
        "product_id": product_id,
        "period": _period(date_from, date_to),
        **_aggregates(chosen),
        "distinct_reviewers": len({r.reviewerID for r in chosen}),
        **_date_extent(chosen),
    }


def reviewer_summary(
    reviews: list[Review], reviewer_id: str, date_from: date | None, date_to: date | None
) -> dict[str, Any] | None:
    """The body of GET /v1/reviewers/{reviewer_id}/reviews/summary, or None for a 404."""
    own = [r for r in reviews if r.reviewerID == reviewer_id]
    if not own:
        return None
    chosen = _in_period(own, date_from, date_to)
    named = [r for r in own if r.reviewerName is not None]
    latest = max(named, key=lambda r: (r.unixReviewTime, r.index), default=None)
    return {
        "reviewer_id": reviewer_id,
        "reviewer_name": latest.reviewerName if latest else None,
        "period": _period(date_from, date_to),
        **_aggregates(chosen),
        "distinct_products": len({r.productID for r in chosen}),
        **_date_extent(chosen),
    }


def product_monthly(
    reviews: list[Review], product_id: str, date_from: date | None, date_to: date | None
) -> dict[str, Any] | None:
    """The body of GET /v1/products/{product_id}/reviews/monthly, or None for a 404."""
    own = [r for r in reviews if r.productID == product_id]
    if not own:
        return None
    return {
        "product_id": product_id,
        "period": _period(date_from, date_to),
        "months": _months(_in_period(own, date_from, date_to)),
    }


def reviewer_monthly(
    reviews: list[Review], reviewer_id: str, date_from: date | None, date_to: date | None
) -> dict[str, Any] | None:
    """The body of GET /v1/reviewers/{reviewer_id}/reviews/monthly, or None for a 404."""
    own = [r for r in reviews if r.reviewerID == reviewer_id]
    if not own:
        return None
    return {
        "reviewer_id": reviewer_id,
        "period": _period(date_from, date_to),
        "months": _months(_in_period(own, date_from, date_to)),
    }


def product_summaries(
    reviews: list[Review], product_ids: Iterable[str], date_from: date | None, date_to: date | None
) -> dict[str, Any]:
    """The body of GET /v1/products/reviews/summary?product_id=..., the ids in that order."""
    return _batch(product_summary, reviews, product_ids, date_from, date_to)


def reviewer_summaries(
    reviews: list[Review], reviewer_ids: Iterable[str], date_from: date | None, date_to: date | None
) -> dict[str, Any]:
    """The body of GET /v1/reviewers/reviews/summary?reviewer_id=..., the ids in that order."""
    return _batch(reviewer_summary, reviews, reviewer_ids, date_from, date_to)


def _batch(
    summary: Summary,
    reviews: list[Review],
    ids: Iterable[str],
    date_from: date | None,
    date_to: date | None,
) -> dict[str, Any]:
    """Each distinct id once, in the order of its first appearance: its summary without the
    period (the batch has one for all) if it has any review, else it is not found."""
    items, not_found = [], []
    for entity_id in dict.fromkeys(ids):
        body = summary(reviews, entity_id, date_from, date_to)
        if body is None:
            not_found.append(entity_id)
        else:
            items.append({name: value for name, value in body.items() if name != "period"})
    return {"period": _period(date_from, date_to), "items": items, "not_found": not_found}


def product_reviews(
    reviews: list[Review], product_id: str, date_from: date | None, date_to: date | None, sort: str
) -> list[dict[str, Any]] | None:
    """Every item of GET /v1/products/{product_id}/reviews?sort=..., all pages in order, or
    None for a 404."""
    own = [r for r in reviews if r.productID == product_id]
    if not own:
        return None
    return [
        {"review_index": r.index, "reviewer_id": r.reviewerID, **_review(r)}
        for r in _sorted_reviews(_in_period(own, date_from, date_to), sort)
    ]


def reviewer_reviews(
    reviews: list[Review], reviewer_id: str, date_from: date | None, date_to: date | None, sort: str
) -> list[dict[str, Any]] | None:
    """Every item of GET /v1/reviewers/{reviewer_id}/reviews?sort=..., all pages in order, or
    None for a 404."""
    own = [r for r in reviews if r.reviewerID == reviewer_id]
    if not own:
        return None
    return [
        {"review_index": r.index, "product_id": r.productID, **_review(r)}
        for r in _sorted_reviews(_in_period(own, date_from, date_to), sort)
    ]


def review_sort_value(review: Review, sort: str) -> int:
    """The review's key in a list sorted by `sort` (ties go to the higher row number)."""
    return review.unixReviewTime if sort == "recent" else _votes(review)


def _sorted_reviews(reviews: list[Review], sort: str) -> list[Review]:
    """recent: newest first (time, then row number, descending); helpful: most votes first
    (then row number, descending)."""
    if sort not in ("recent", "helpful"):
        raise ValueError(sort)
    return sorted(reviews, key=lambda r: (review_sort_value(r, sort), r.index), reverse=True)


def _review(review: Review) -> dict[str, Any]:
    return {
        "reviewer_name": review.reviewerName,
        "review_date": review.day.isoformat(),
        "rating": int(review.overall),
        "verified": None if review.verified is None else review.verified == 1,
        "helpful_votes": _votes(review),
        "summary": review.summary,
        "review_text": review.reviewText,
    }


def dataset_summary(
    reviews: list[Review], data_version: str, loaded_at: str | None
) -> dict[str, Any]:
    """The body of GET /v1/reviews/summary. The data version and load time are not in the
    rows: the caller gives them (the load history, or the SQLite file's stand-in)."""
    days = [r.day for r in reviews]
    ratings = [r.overall for r in reviews]
    return {
        "review_count": len(reviews),
        "product_count": len({r.productID for r in reviews}),
        "reviewer_count": len({r.reviewerID for r in reviews}),
        "first_review_date": min(days).isoformat() if days else None,
        "last_review_date": max(days).isoformat() if days else None,
        "rating_distribution": {str(s): sum(1 for x in ratings if x == s) for s in range(1, 6)},
        "data_version": data_version,
        "loaded_at": loaded_at,
    }


def _months(reviews: list[Review]) -> list[dict[str, Any]]:
    """Every calendar month from the first review's to the last one's, oldest first, with
    the aggregates of its reviews (zeros for a month without any); [] for no review."""
    if not reviews:
        return []
    first = min(r.day for r in reviews)
    last = max(r.day for r in reviews)
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        own = [r for r in reviews if (r.day.year, r.day.month) == (year, month)]
        months.append({"month": f"{year:04d}-{month:02d}", **_aggregates(own)})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _in_period(reviews: list[Review], date_from: date | None, date_to: date | None) -> list[Review]:
    return [
        r
        for r in reviews
        if (date_from is None or r.day >= date_from) and (date_to is None or r.day <= date_to)
    ]


def _period(date_from: date | None, date_to: date | None) -> dict[str, str | None]:
    return {
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
    }


def _aggregates(reviews: list[Review]) -> dict[str, Any]:
    ratings = [r.overall for r in reviews]
    return {
        "review_count": len(reviews),
        "average_rating": sum(ratings) / len(ratings) if ratings else None,
        "rating_distribution": {str(s): sum(1 for x in ratings if x == s) for s in range(1, 6)},
        "verified_review_count": sum(1 for r in reviews if r.verified == 1),
        "helpful_votes": sum(_votes(r) for r in reviews),
    }


def _votes(review: Review) -> int:
    return int(review.vote.replace(",", "")) if review.vote else 0


def _date_extent(reviews: list[Review]) -> dict[str, str | None]:
    days = [r.day for r in reviews]
    return {
        "first_review_date": min(days).isoformat() if days else None,
        "last_review_date": max(days).isoformat() if days else None,
    }


# --- Rankings (review_api.top_products / top_reviewers, GET /v1/products, /v1/reviewers) ----

RANKING_SORTS = ("review_count", "average_rating", "helpful_votes", "verified_review_count")
MIN_REVIEWS = (1, 5, 10, 25, 50, 100)


def product_ranking(
    reviews: list[Review],
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    sort: str = "review_count",
    order: str = "desc",
    min_reviews: int = 1,
) -> list[dict[str, Any]]:
    """Every product with at least `min_reviews` reviews in the period, in ranking order:
    by `sort` (its value as a float), ties by product id, both in `order`. Each entry holds
    the HTTP item's fields, and `sort_value` (the hidden column a cursor reads)."""
    return _ranking(
        reviews, lambda r: r.productID, "product_id", date_from, date_to, sort, order, min_reviews
    )


def reviewer_ranking(
    reviews: list[Review],
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    sort: str = "review_count",
    order: str = "desc",
    min_reviews: int = 1,
) -> list[dict[str, Any]]:
    """As product_ranking, by reviewer; each entry also holds the reviewer's latest name
    over all time (as the reviewer summary)."""
    ranked = _ranking(
        reviews, lambda r: r.reviewerID, "reviewer_id", date_from, date_to, sort, order, min_reviews
    )
    for entry in ranked:
        own = [r for r in reviews if r.reviewerID == entry["reviewer_id"]]
        named = [r for r in own if r.reviewerName is not None]
        latest = max(named, key=lambda r: (r.unixReviewTime, r.index), default=None)
        entry["reviewer_name"] = latest.reviewerName if latest else None
    return [
        {"reviewer_id": e.pop("reviewer_id"), "reviewer_name": e.pop("reviewer_name"), **e}
        for e in ranked
    ]


def after_cursor(
    ranked: list[dict[str, Any]],
    id_field: str,
    order: str,
    after_value: float | None,
    after_id: str | None,
) -> list[dict[str, Any]]:
    """The entries strictly after (after_value, after_id) in the ranking's order; an
    after_id of None counts as the empty id (before every id), no after_value as no cursor."""
    if after_value is None:
        return ranked
    bound = (after_value, after_id or "")
    if order == "desc":
        return [e for e in ranked if (e["sort_value"], e[id_field]) < bound]
    return [e for e in ranked if (e["sort_value"], e[id_field]) > bound]


def _ranking(
    reviews: list[Review],
    id_of: Any,
    id_field: str,
    date_from: date | None,
    date_to: date | None,
    sort: str,
    order: str,
    min_reviews: int,
) -> list[dict[str, Any]]:
    chosen = _in_period(reviews, date_from, date_to)
    grouped: dict[str, list[Review]] = {}
    for review in chosen:
        grouped.setdefault(id_of(review), []).append(review)
    entries = []
    for entity_id, own in grouped.items():
        if len(own) < min_reviews:
            continue
        entry = {id_field: entity_id, **_aggregates(own), **_date_extent(own)}
        entry["sort_value"] = float(entry[sort])
        entries.append(entry)
    # Python compares str by code point, which is the byte order of UTF-8: the "C" collation.
    entries.sort(key=lambda e: (e["sort_value"], e[id_field]), reverse=order == "desc")
    return entries


def rollups(reviews: list[Review], id_of: Any) -> dict[tuple[int, str], dict[str, Any]]:
    """The rows public.product_rollups / reviewer_rollups must hold, keyed (period_year, id):
    each id's aggregates per calendar year (UTC) with reviews, and over all time (year 0)."""
    grouped: dict[tuple[int, str], list[Review]] = {}
    for review in reviews:
        for period in (review.day.year, 0):
            grouped.setdefault((period, id_of(review)), []).append(review)
    return {key: {**_aggregates(own), **_date_extent(own)} for key, own in grouped.items()}
