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
    """An optional query-string parameter and the SQL argument it feeds."""

    name: str
    sql_argument: str
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

    @property
    def sanic_path(self) -> str:
        """The path in Sanic's syntax: `{product_id}` becomes `<product_id:str>`."""
        return self.path.replace("{" + self.id_parameter + "}", f"<{self.id_parameter}:str>")


ISO_DATE = {"type": "string", "format": "date", "minimum": "1900-01-01", "maximum": "2999-12-31"}

DATE_RANGE = (
    QueryParameter(
        "from",
        "date_from",
        "First review date to include, `YYYY-MM-DD` (UTC calendar day), inclusive.",
        ISO_DATE,
    ),
    QueryParameter(
        "to",
        "date_to",
        "Last review date to include, `YYYY-MM-DD` (UTC calendar day), inclusive.",
        ISO_DATE,
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
        query_parameters=DATE_RANGE,
        response_fields=_summary_fields(
            "product_id",
            ResponseField("distinct_reviewers", "Different reviewers in the period.", COUNT),
        ),
        description="Review aggregates of one product, optionally within a date range.",
    ),
    Endpoint(
        name="reviewer_review_summary",
        path="/v1/reviewers/{reviewer_id}/reviews/summary",
        id_parameter="reviewer_id",
        id_description="Reviewer (user) id, 1 to 64 characters.",
        summary_query="reviewer_review_summary",
        exists_query="reviewer_exists",
        query_parameters=DATE_RANGE,
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
    ),
)
