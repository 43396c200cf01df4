"""The OpenAPI 3.1 document, generated from the API catalog (never written by hand).

Every data route, parameter, response schema and example comes from the catalog, that is
from the SQL functions' signatures and COMMENTs, so the document cannot drift from what
the service does; tests validate real responses against it and schemathesis fuzzes the
running service with it.
"""

from __future__ import annotations

from typing import Any

from service import __version__
from service.catalog.model import Catalog, Endpoint, Field
from service.http.arguments import FORMAT_PARAMETER
from service.http.media_types import FORMATS, CsvWriter
from service.settings import Settings

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "Problem type, a URI reference."},
        "title": {"type": "string", "description": "The HTTP status's reason phrase."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What exactly was wrong."},
        "parameter": {"type": "string", "description": "The parameter at fault (400 only)."},
    },
    "required": ["type", "title", "status", "detail"],
}

ERROR_EXAMPLES = {
    "400": (
        "Bad request: a parameter is malformed, out of range, repeated, empty or unknown.",
        {
            "type": "/problems/invalid-parameter",
            "title": "Bad Request",
            "status": 400,
            "detail": "from='2015-02-30' is not a real calendar date",
            "parameter": "from",
        },
    ),
    "401": (
        "Missing or wrong API key (only when the service runs with API_KEYS).",
        {
            "type": "/problems/unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "send the API key as Authorization: Bearer <key>",
        },
    ),
    "404": (
        "The id has no reviews at all.",
        {
            "type": "/problems/not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "no reviews at all for the id 'B000000000' (the route's @notfound text)",
        },
    ),
    "409": (
        "The page cursor was made before a load: the data changed, start again from the "
        "first page.",
        {
            "type": "/problems/stale-cursor",
            "title": "Conflict",
            "status": 409,
            "detail": "the data changed since this cursor was made (a new load); start again "
            "from the first page",
        },
    ),
    "413": (
        "The request line and headers are over 8 KiB: split a long request (a batch of many "
        "ids) into several.",
        {
            "type": "about:blank",
            "title": "Request Entity Too Large",
            "status": 413,
            "detail": "Request header exceeds the size limit: the request line and headers must "
            "fit in 8192 bytes; split a long request (a batch of many ids) into several",
        },
    ),
    "502": (
        "The stored reviews of this id hold a value the service cannot represent (a review "
        "date outside the years 1 to 9999); retrying will not help until the data is fixed.",
        {
            "type": "/problems/unrepresentable-data",
            "title": "Bad Gateway",
            "status": 502,
            "detail": "the stored reviews of the id 'B000000000' hold a value this service "
            "cannot represent; retrying will not help until the data is corrected",
        },
    ),
    "503": (
        "The database did not answer (type /problems/database-unavailable), or the service "
        "is busy: too many requests wait for a database connection (type "
        "/problems/overloaded), or If-None-Match or the cursor names a newer data version "
        "than this instance serves yet (type /problems/replica-behind); retry after the "
        "Retry-After delay.",
        {
            "type": "/problems/database-unavailable",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "The database is not answering; try again shortly.",
        },
    ),
}


CACHE_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "Strong tag: data version and a hash of the exact bytes.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "public (private with API keys), max-age=CACHE_MAX_AGE_S.",
        "schema": {"type": "string"},
    },
    "Vary": {
        "description": "Accept (and Authorization, Origin when on).",
        "schema": {"type": "string"},
    },
}


def openapi_document(settings: Settings, catalog: Catalog) -> dict[str, Any]:
    """The whole document; `settings` decide whether the data routes need a key."""
    paths: dict[str, Any] = {
        endpoint.path: {"get": _operation(endpoint, settings)} for endpoint in catalog.endpoints
    }
    paths.update(_service_paths(settings))
    components: dict[str, Any] = {
        "schemas": {
            "Problem": PROBLEM_SCHEMA,
            **{_schema_name(endpoint): _answer_schema(endpoint) for endpoint in catalog.endpoints},
        },
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key issued by the service's operators.",
            }
        },
    }
    return {
        "openapi": "3.1.0",
        # Relative: resolved against wherever this document was fetched from.
        "servers": [{"url": "/", "description": "This service, where the document was read."}],
        "info": {
            "title": "reviews-api",
            "version": __version__,
            "description": (
                "Aggregated Amazon reviews of musical instruments, per product and per "
                "reviewer, optionally limited to a range of review dates. Errors are "
                "RFC 9457 problem details (application/problem+json)."
            ),
        },
        "paths": paths,
        "components": components,
    }


def _schema_name(endpoint: Endpoint) -> str:
    return "".join(part.capitalize() for part in endpoint.name.split("_"))


def _answer_schema(endpoint: Endpoint) -> dict[str, Any]:
    """An object of every field, or a list of row objects (under `@items` with echoes)."""
    if endpoint.returns == "object":
        return _object(endpoint.summary, endpoint.fields)
    echoes = [field for field in endpoint.fields if field.source.startswith("echo")]
    row_fields = [field for field in endpoint.fields if not field.source.startswith("echo")]
    rows = {
        "type": "array",
        "description": endpoint.items_description,
        "items": _object("One row.", row_fields),
    }
    if endpoint.items is None:
        return {**rows, "description": endpoint.summary}
    answer = _object(endpoint.summary, echoes)
    answer["properties"][endpoint.items] = rows
    answer["required"].append(endpoint.items)
    if endpoint.cursor is not None:
        answer["properties"]["next"] = {
            "type": ["string", "null"],
            "description": "The next page's relative URL (also in the Link header); null "
            "on the last page.",
        }
        answer["required"].append("next")
    if endpoint.missing is not None:
        asked = next(a for a in endpoint.arguments if a.name == endpoint.missing.argument)
        answer["properties"][endpoint.missing.field] = {
            **asked.schema,
            "description": endpoint.missing.description
            or f"The {asked.public} values asked for that have no answer, in request order, "
            "once each.",
        }
        answer["required"].append(endpoint.missing.field)
    return answer


def _object(description: str, fields: tuple[Field, ...] | list[Field]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {
            field.name: {**field.schema, "description": field.description} for field in fields
        },
        "required": [field.name for field in fields],
        "additionalProperties": False,
    }


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    arguments = [
        {
            "name": argument.public,
            "in": argument.location,
            "required": argument.location == "path" or argument.required,
            "description": argument.description,
            "schema": argument.schema,
        }
        for argument in (*endpoint.path_arguments, *endpoint.query_arguments)
    ]
    media_format = {
        "name": FORMAT_PARAMETER,
        "in": "query",
        "required": False,
        "description": "`json` (default) or `csv` (one header row, then a row per answer row; "
        "an object such as `period` becomes `period_from`, `period_to`, a group of columns its "
        "columns again); wins over the Accept header.",
        "schema": {"type": "string", "enum": list(FORMATS)},
    }
    pages = []
    if endpoint.cursor is not None:
        pages.append(
            {
                "name": endpoint.cursor.public,
                "in": "query",
                "required": False,
                "description": "Opaque: the cursor of the next page, taken from the previous "
                "page's `next` link (400 when it does not fit the request, 409 after a load).",
                "schema": {"type": "string"},
            }
        )
    conditional = {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "An ETag from an earlier answer: 304 while it is still current.",
        "schema": {"type": "string"},
    }
    return [*arguments, *pages, media_format, conditional]


def _operation(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    json_content: dict[str, Any] = {
        "schema": {"$ref": f"#/components/schemas/{_schema_name(endpoint)}"}
    }
    csv_content: dict[str, Any] = {"schema": {"type": "string"}}
    if endpoint.example is not None:
        json_content["example"] = endpoint.example
        csv_content["example"] = CsvWriter(endpoint).csv(endpoint.example).decode()
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "parameters": _parameters(endpoint),
        "responses": {
            "200": {
                "description": "The answer (JSON, or CSV on request).",
                "headers": CACHE_HEADERS,
                "content": {"application/json": json_content, "text/csv": csv_content},
            },
            "304": {
                "description": "Not Modified: the If-None-Match tag is still current.",
                "headers": CACHE_HEADERS,
            },
            **_error_responses(
                auth=settings.auth_enabled,
                paged=endpoint.cursor is not None,
                batch=any(a.array for a in endpoint.query_arguments),
            ),
        },
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if settings.auth_enabled:
        operation["security"] = [{"apiKey": []}]
    return operation


def _error_responses(*, auth: bool, paged: bool = False, batch: bool = False) -> dict[str, Any]:
    """The problems an operation may answer: 401 with API keys, 409 for a page's cursor,
    413 where repeating a parameter can make the request line long."""
    statuses = [
        "400",
        *(["401"] if auth else []),
        "404",
        *(["409"] if paged else []),
        *(["413"] if batch else []),
        "502",
        "503",
    ]
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: str) -> dict[str, Any]:
    description, example = ERROR_EXAMPLES[status]
    return {
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": example,
            }
        },
    }


def _service_paths(settings: Settings) -> dict[str, Any]:
    def simple(
        operation_id: str,
        summary: str,
        schema: dict[str, Any],
        *errors: str,
        media_type: str = "application/json",
    ) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": {"description": summary, "content": {media_type: {"schema": schema}}}
        }
        responses.update({status: _problem_response(status) for status in errors})
        return {"get": {"operationId": operation_id, "summary": summary, "responses": responses}}

    status = {
        "type": "object",
        "properties": {"status": {"type": "string"}},
        "required": ["status"],
    }
    metrics = simple(
        "metrics",
        "Prometheus metrics, summed over all workers (needs a key when API keys are on).",
        {"type": "string"},
        *(["401"] if settings.auth_enabled else []),
        media_type="text/plain",
    )
    if settings.auth_enabled:
        metrics["get"]["security"] = [{"apiKey": []}]
    return {
        "/": simple("service_index", "The service's name, version and routes.", {"type": "object"}),
        "/health/live": simple("liveness", "The process is up.", status),
        "/health/ready": simple("readiness", "The database answers a query.", status, "503"),
        "/openapi.json": simple("openapi_document", "This document.", {"type": "object"}),
        "/metrics": metrics,
    }
