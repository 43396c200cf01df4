"""The OpenAPI document is generated from the catalog, is OpenAPI 3.1, names every route and
parameter, and real responses validate against it; /docs works without the internet."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from service.catalog import load_catalog
from service.catalog.model import Endpoint

ENDPOINTS = load_catalog().endpoints


@pytest.fixture(scope="module")
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) for a schema of `document`:
    the components sit beside it at the root, so `#/components/...` refs resolve."""
    root = {"components": document["components"], **schema}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def response_schema(document: dict[str, Any], path: str, status: str, media: str) -> dict[str, Any]:
    return dict(document["paths"][path]["get"]["responses"][status]["content"][media]["schema"])


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "reviews-api"
    assert document["servers"] == [
        {"url": "/", "description": document["servers"][0]["description"]}
    ]


def test_every_operation_has_a_unique_operation_id(document: dict[str, Any]) -> None:
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    ids = [operation.get("operationId") for _, _, operation in operations]
    assert all(ids), [
        (path, method) for path, method, op in operations if not op.get("operationId")
    ]
    assert len(set(ids)) == len(ids), ids
    assert "/metrics" in document["paths"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_catalog_entry_is_documented(document: dict[str, Any], endpoint: Endpoint) -> None:
    operation = document["paths"][endpoint.path]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    declared = [
        *(a.public for a in endpoint.path_arguments),
        *(a.public for a in endpoint.query_arguments),
    ]
    declared += [endpoint.cursor.public] if endpoint.cursor else []
    declared.append("format")
    assert names == [*declared, "If-None-Match"]
    assert set(operation["responses"]) >= {"200", "304", "400", "404", "503"}
    ok = operation["responses"]["200"]["content"]["application/json"]
    validator(document, ok["schema"]).validate(ok["example"])
    for status, response in operation["responses"].items():
        if status not in ("200", "304"):
            problem = response["content"]["application/problem+json"]
            validator(document, problem["schema"]).validate(problem["example"])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/products/ENDS/reviews/summary", "200"),
        ("/v1/products/ENDS/reviews/summary?from=2004-01-01&to=2004-01-31", "200"),
        ("/v1/reviewers/TIE/reviews/summary?to=2017-01-01", "200"),
        ("/v1/reviewers/NAMELESS/reviews/summary", "200"),
        ("/v1/products/ENDS/reviews/summary?from=2015-02-30", "400"),
        ("/v1/products/NO-SUCH/reviews/summary", "404"),
    ],
)
def test_real_responses_validate_against_the_document(
    client: httpx.Client, document: dict[str, Any], path: str, status: str
) -> None:
    response = client.get(path)
    assert str(response.status_code) == status
    template = (
        "/v1/products/{product_id}/reviews/summary"
        if "/products/" in path
        else ("/v1/reviewers/{reviewer_id}/reviews/summary")
    )
    media = response.headers["content-type"].split(";")[0]
    validator(document, response_schema(document, template, status, media)).validate(
        response.json()
    )


def test_docs_page_is_self_contained(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # What the page loads (scripts, styles, icon); its <a> links go to the service's pages.
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page.text)
    assert assets and all(asset.startswith("/docs/assets/") for asset in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    assert "openapi.json" in client.get("/docs/assets/docs.js").text


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/no-such-file.js",
        "/docs/assets/..%2Fdocs.html",
        "/docs/assets/%2E%2E%2F%2E%2E%2Fpyproject.toml",
        "/docs/assets/LICENSE",  # vendored beside the assets, but not one of them
        "/docs/assets/a%00b.js",
    ],
)
def test_an_unknown_docs_asset_is_a_404_problem(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
