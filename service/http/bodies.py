"""Serialisation, the last step: a query row becomes the JSON body the catalog declares."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from sanic import HTTPResponse

from service.catalog.endpoints import Endpoint
from service.http.arguments import Period

STAR_RATINGS = ("1", "2", "3", "4", "5")


def summary_body(
    endpoint: Endpoint, entity_id: str, period: Period, row: dict[str, Any]
) -> dict[str, Any]:
    """The response fields in catalog order, from one summary row."""
    body: dict[str, Any] = {}
    for field in endpoint.response_fields:
        if field.name == endpoint.id_parameter:
            body[field.name] = entity_id
        elif field.name == "period":
            body[field.name] = period.as_json()
        elif field.name == "rating_distribution":
            body[field.name] = {stars: row[f"rating_{stars}"] for stars in STAR_RATINGS}
        else:
            body[field.name] = _json_value(row[field.name])
    return body


def _json_value(value: Any) -> Any:
    # PostgreSQL hands back dates, SQLite ISO text: the API always speaks ISO text.
    return value.isoformat() if isinstance(value, date) else value


def json_response(body: Any, status: int = 200) -> HTTPResponse:
    """orjson: the shortest float repr (the exact double), and fast."""
    return HTTPResponse(orjson.dumps(body), status=status, content_type="application/json")
