"""What the service says, to the letter, where clients read it: each problem's detail,
title and parameter, the ETag's parts, the index, the OpenAPI parameters. Other tests look
for key words; a detail mangled around them would pass those (mutation testing showed
it). On both backends here, and in the fast tier (tests/fast/test_request_path.py)."""

from __future__ import annotations

import csv
import io
import re
from hashlib import blake2b
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from review_rows import Review
from test_caching import expected_cells

from service.catalog import load_catalog

ENDPOINTS = load_catalog().endpoints
# The two summaries: one object with the id in the path and the period asked for.
SUMMARIES = [e for e in ENDPOINTS if e.path_arguments and e.path.endswith("/summary")]
MAX_ID_LENGTH = 64

PRODUCT = "/v1/products/ENDS/reviews/summary"
REVIEWER = "/v1/reviewers/TIE/reviews/summary"
INVALID = "/problems/invalid-parameter"

# (request, status, problem type, the exact detail, the parameter named or None)
PROBLEMS = [
    (
        f"{PRODUCT}?from=2015-02-30",
        400,
        INVALID,
        "from='2015-02-30' is not a real calendar date",
        "from",
    ),
    (
        f"{PRODUCT}?to=2015-1-1",
        400,
        INVALID,
        "to='2015-1-1' is not a date in the form YYYY-MM-DD",
        "to",
    ),
    (
        f"{PRODUCT}?from=1899-12-31",
        400,
        INVALID,
        "from='1899-12-31' is outside the supported range 1900-01-01..2999-12-31",
        "from",
    ),
    (
        f"{PRODUCT}?to=3000-01-01",
        400,
        INVALID,
        "to='3000-01-01' is outside the supported range 1900-01-01..2999-12-31",
        "to",
    ),
    (
        f"{PRODUCT}?from=2016-01-02&to=2016-01-01",
        400,
        INVALID,
        "from (2016-01-02) is after to (2016-01-01)",
        "from",
    ),
    (f"{PRODUCT}?from=", 400, INVALID, "query parameter 'from' is empty", "from"),
    (
        f"{PRODUCT}?to=2015-01-01&to=2015-01-01",
        400,
        INVALID,
        "query parameter 'to' is given more than once",
        "to",
    ),
    (
        f"{REVIEWER}?limit=5",
        400,
        INVALID,
        "unknown query parameter 'limit'; this endpoint accepts: format, from, to",
        "limit",
    ),
    (
        f"{PRODUCT}?from=%FF",
        400,
        INVALID,
        "the query string is not valid UTF-8 once percent-decoded",
        "query",
    ),
    (
        f"{PRODUCT}?" + "&".join(f"p{n}=1" for n in range(21)),
        400,
        INVALID,
        "too many query parameters (at most 20)",
        "query",
    ),
    (
        "/v1/products/" + "x" * 65 + "/reviews/summary",
        400,
        INVALID,
        "product_id is 65 characters long; the limit is 64",
        "product_id",
    ),
    (
        "/v1/reviewers/%FF/reviews/summary",
        400,
        INVALID,
        "reviewer_id is not valid UTF-8 once percent-decoded",
        "reviewer_id",
    ),
    (
        "/v1/reviewers/a%7Fb/reviews/summary",
        400,
        INVALID,
        "reviewer_id contains a control character",
        "reviewer_id",
    ),
    (f"{PRODUCT}?format=xml", 400, INVALID, "format='xml'; expected one of: json, csv", "format"),
    (
        "/v1/products/NO-SUCH/reviews/summary",
        404,
        "/problems/not-found",
        "no reviews at all for product_id 'NO-SUCH'",
        None,
    ),
    (
        "/v1/reviewers/it%27s%20gone/reviews/summary?from=2015-01-01",
        404,
        "/problems/not-found",
        'no reviews at all for reviewer_id "it\'s gone"',
        None,
    ),
    (
        "/docs/assets/nothing.js",
        404,
        "/problems/not-found",
        "no documentation asset named 'nothing.js'",
        None,
    ),
]
TITLES = {400: "Bad Request", 404: "Not Found"}


@pytest.mark.parametrize(
    ("url", "status", "problem_type", "detail", "parameter"),
    PROBLEMS,
    ids=[f"{row[1]}-{row[3][:40]}" for row in PROBLEMS],
)
def test_each_problem_says_exactly_what_was_wrong(
    client: httpx.Client,
    url: str,
    status: int,
    problem_type: str,
    detail: str,
    parameter: str | None,
) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    expected: dict[str, Any] = {
        "type": problem_type,
        "title": TITLES[status],
        "status": status,
        "detail": detail,
    }
    if parameter is not None:
        expected["parameter"] = parameter
    assert response.json() == expected


def test_the_tag_is_the_data_version_and_a_hash_of_the_exact_bytes(
    client: httpx.Client, backend: str, reviews: list[Review]
) -> None:
    """README: the data version (the load id on PostgreSQL; rows and highest row number on
    the SQLite file, which has no load history) and a hash of the bytes sent."""
    version = "1" if backend == "postgres" else f"sqlite-{len(reviews)}-{reviews[-1].index}"
    for query in ("", "?format=csv", "?from=2010-01-01"):
        response = client.get(PRODUCT + query)
        digest = blake2b(response.content, digest_size=12).hexdigest()
        assert response.headers["etag"] == f'"{version}-{digest}"'


def test_the_index_lists_every_route_it_serves(client: httpx.Client) -> None:
    routes = client.get("/").json()["routes"]
    assert [route["path"] for route in routes] == [
        *(endpoint.path for endpoint in ENDPOINTS),
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs",
        "/explore",
        "/metrics",
    ]
    assert all(route["method"] == "GET" and route["description"] for route in routes)
    assert routes[0]["description"] == ENDPOINTS[0].summary


def test_openapi_parameters_say_what_the_service_checks(client: httpx.Client) -> None:
    """The document is what schemathesis and client generators trust: the id in the path,
    required, 1 to 64 characters; the query parameters optional; the conditional header."""
    document = client.get("/openapi.json").json()
    for endpoint in SUMMARIES:
        operation = document["paths"][endpoint.path]["get"]
        assert operation["operationId"] == endpoint.name
        path, *query, header = operation["parameters"]
        assert path == {
            "name": endpoint.path_arguments[0].public,
            "in": "path",
            "required": True,
            "description": endpoint.path_arguments[0].description,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        }
        assert [(p["name"], p["in"], p["required"]) for p in query] == [
            ("from", "query", False),
            ("to", "query", False),
            ("format", "query", False),
        ]
        assert query[2]["schema"] == {"type": "string", "enum": ["json", "csv"]}
        assert (header["name"], header["in"], header["required"]) == (
            "If-None-Match",
            "header",
            False,
        )
        schema_name = "".join(part.capitalize() for part in endpoint.name.split("_"))
        schema = document["components"]["schemas"][schema_name]
        assert schema["additionalProperties"] is False
        assert schema["required"] == [field.name for field in endpoint.fields]
        responses = operation["responses"]
        assert set(responses) == {"200", "304", "400", "404", "502", "503"}  # no API keys here
        assert set(responses["200"]["content"]) == {"application/json", "text/csv"}
        for status in ("400", "404", "502", "503"):
            problem = responses[status]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert problem["example"]["status"] == int(status)
    assert "security" not in document["paths"][ENDPOINTS[0].path]["get"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", document["info"]["version"])


def test_each_service_route_says_what_it_sends(client: httpx.Client) -> None:
    for path in ("/", "/health/live", "/health/ready", "/openapi.json"):
        assert client.get(path).headers["content-type"] == "application/json", path
    page = client.get("/docs")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        response = client.get(asset)
        assert response.headers["content-type"] == types[asset[asset.rindex(".") :]], asset
        assert response.headers["cache-control"] == "public, max-age=86400"


def test_the_service_routes_answer_as_documented(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    for path in ("/", "/health/live", "/health/ready", "/openapi.json"):
        response = client.get(path)
        documented = document["paths"][path]["get"]["responses"]
        assert set(documented) == ({"200", "503"} if path == "/health/ready" else {"200"})
        schema = documented["200"]["content"]["application/json"]["schema"]
        Draft202012Validator({"components": document["components"], **schema}).validate(
            response.json()
        )
    ready = document["paths"]["/health/ready"]["get"]["responses"]["503"]
    assert ready["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert document["components"]["securitySchemes"]["apiKey"]["type"] == "http"
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert document["paths"]["/health/live"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["required"] == ["status"]


def test_the_csv_example_is_the_json_example_as_csv(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    for endpoint in SUMMARIES:
        content = document["paths"][endpoint.path]["get"]["responses"]["200"]["content"]
        header, row = csv.reader(io.StringIO(content["text/csv"]["example"]))
        assert dict(zip(header, row, strict=True)) == expected_cells(
            content["application/json"]["example"]
        )


def test_plain_http_errors_are_about_blank_problems(client: httpx.Client) -> None:
    """README: no route and a wrong method are `about:blank` problems; a 405 says what is
    allowed (RFC 9110 15.5.6)."""
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.json()["type"], missing.json()["title"]) == (
        404,
        "about:blank",
        "Not Found",
    )
    wrong_method = client.post(PRODUCT)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "about:blank"
    assert wrong_method.json()["title"] == "Method Not Allowed"
    assert "GET" in wrong_method.headers["allow"]
