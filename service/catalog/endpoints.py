"""The endpoint catalog: one declaration per data endpoint.

Routing, parameter validation, the response body, the root index (and later the OpenAPI
document) are all generated from these declarations, so they cannot drift apart. Adding an
endpoint means one SQL file under queries/<dialect>/ plus one `Endpoint` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class QueryParameter:
    """An optional query-string parameter (the date bounds feed SQL; `format` does not)."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class ResponseField:
    """A top-level field of a summary body, in output order."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A date-filterable summary of the reviews of one entity (a product, a reviewer)."""

    name: str
    path: str
    id_parameter: str
    id_description: str
    summary_query: str
    exists_query: str
    query_parameters: tuple[QueryParameter, ...]
    response_fields: tuple[ResponseField, ...]
    description: str
    example: dict[str, Any]

    @property
    def sanic_path(self) -> str:
        """The path in Sanic's syntax: `{product_id}` becomes `<product_id:str>`."""
        return self.path.replace("{" + self.id_parameter + "}", f"<{self.id_parameter}:str>")


# A calendar date from 1900-01-01 to 2999-12-31 (the pattern bounds the year; impossible
# days such as 2015-02-30 are refused by the service with a 400).
ISO_DATE = {
    "type": "string",
    "format": "date",
    "pattern": "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$",
}

SUMMARY_PARAMETERS = (
    QueryParameter(
        "from",
        "First review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; "
        "1900-01-01 to 2999-12-31, not after `to`.",
        ISO_DATE,
    ),
    QueryParameter(
        "to",
        "Last review day to include, `YYYY-MM-DD` (UTC calendar day), inclusive; "
        "1900-01-01 to 2999-12-31.",
        ISO_DATE,
    ),
    QueryParameter(
        "format",
        "`json` (default) or `csv` (one header row, `rating_distribution` flattened to "
        "`rating_1`..`rating_5`); wins over the Accept header.",
        {"type": "string", "enum": ["json", "csv"]},
    ),
)

NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
COUNT = {"type": "integer", "minimum": 0}


def _summary_fields(
    id_field: str, distinct_field: ResponseField, *about_entity: ResponseField
) -> tuple[ResponseField, ...]:
    """The fields shared by every summary, around the ones that differ per entity."""
    return (
        ResponseField(id_field, "The id asked for, as given.", {"type": "string"}),
        *about_entity,
        ResponseField(
            "period",
            "The date range asked for (`null` where not given), not the data's extent.",
            {
                "type": "object",
                "properties": {"from": NULLABLE_DATE, "to": NULLABLE_DATE},
                "required": ["from", "to"],
            },
        ),
        ResponseField("review_count", "Reviews in the period.", COUNT),
        ResponseField(
            "average_rating",
            "Mean star rating (sum / count, unrounded); `null` when there is no review.",
            {"type": ["number", "null"], "minimum": 1, "maximum": 5},
        ),
        ResponseField(
            "rating_distribution",
            "Reviews per star rating; all five keys always present.",
            {
                "type": "object",
                "properties": {str(stars): COUNT for stars in range(1, 6)},
                "required": [str(stars) for stars in range(1, 6)],
            },
        ),
        ResponseField("verified_review_count", "Reviews from verified purchases.", COUNT),
        ResponseField(
            "helpful_votes", "Sum of the reviews' helpful votes (no vote counts 0).", COUNT
        ),
        distinct_field,
        ResponseField("first_review_date", "Earliest review day in the period.", NULLABLE_DATE),
        ResponseField("last_review_date", "Latest review day in the period.", NULLABLE_DATE),
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="product_review_summary",
        path="/v1/products/{product_id}/reviews/summary",
        id_parameter="product_id",
        id_description="Product id (the ASIN), 1 to 64 characters.",
        summary_query="product_review_summary",
        exists_query="product_exists",
        query_parameters=SUMMARY_PARAMETERS,
        response_fields=_summary_fields(
            "product_id",
            ResponseField("distinct_reviewers", "Different reviewers in the period.", COUNT),
        ),
        description="Review aggregates of one product, optionally within a date range.",
        example={
            "product_id": "B0128IL7TH",
            "period": {"from": "2016-01-01", "to": "2016-12-31"},
            "review_count": 1005,
            "average_rating": 4.167164179104478,
            "rating_distribution": {"1": 85, "2": 45, "3": 97, "4": 168, "5": 610},
            "verified_review_count": 910,
            "helpful_votes": 885,
            "distinct_reviewers": 1001,
            "first_review_date": "2016-01-01",
            "last_review_date": "2016-12-31",
        },
    ),
    Endpoint(
        name="reviewer_review_summary",
        path="/v1/reviewers/{reviewer_id}/reviews/summary",
        id_parameter="reviewer_id",
        id_description="Reviewer (user) id, 1 to 64 characters.",
        summary_query="reviewer_review_summary",
        exists_query="reviewer_exists",
        query_parameters=SUMMARY_PARAMETERS,
        response_fields=_summary_fields(
            "reviewer_id",
            ResponseField("distinct_products", "Different products reviewed.", COUNT),
            ResponseField(
                "reviewer_name",
                "Latest non-null display name over all the reviewer's reviews, whatever "
                "the period; `null` if they never had one.",
                {"type": ["string", "null"]},
            ),
        ),
        description="Review aggregates of one reviewer, optionally within a date range.",
        example={
            "reviewer_id": "A0NS716RA5ZORF",
            "reviewer_name": "Bill N.",
            "period": {"from": None, "to": None},
            "review_count": 12,
            "average_rating": 4.416666666666667,
            "rating_distribution": {"1": 1, "2": 0, "3": 0, "4": 3, "5": 8},
            "verified_review_count": 11,
            "helpful_votes": 4,
            "distinct_products": 12,
            "first_review_date": "2011-08-23",
            "last_review_date": "2017-07-29",
        },
    ),
)
