"""Every error path answers application/problem+json with a detail saying what was wrong."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import RunningServer, send_raw

PRODUCT = "/v1/products/ENDS/reviews/summary"
REVIEWER = "/v1/reviewers/TIE/reviews/summary"

BAD_REQUESTS = [
    # (path and query, status, words the detail must contain)
    (f"{PRODUCT}?from=2015-02-30", 400, "not a real calendar date"),
    (f"{PRODUCT}?to=2015-13-01", 400, "not a real calendar date"),
    (f"{PRODUCT}?from=2015-1-1", 400, "YYYY-MM-DD"),
    (f"{PRODUCT}?from=20150101", 400, "YYYY-MM-DD"),
    (f"{PRODUCT}?from=yesterday", 400, "YYYY-MM-DD"),
    (f"{PRODUCT}?from=%EF%BC%92015-01-01", 400, "YYYY-MM-DD"),  # a full-width digit
    (f"{PRODUCT}?from=1899-12-31", 400, "outside the supported range"),
    (f"{PRODUCT}?to=3000-01-01", 400, "outside the supported range"),
    (f"{PRODUCT}?from=2016-01-02&to=2016-01-01", 400, "is after"),
    (f"{PRODUCT}?from=", 400, "is empty"),
    (f"{PRODUCT}?to", 400, "is empty"),
    (f"{PRODUCT}?from=2015-01-01&from=2015-01-01", 400, "more than once"),
    (f"{PRODUCT}?From=2015-01-01", 400, "unknown query parameter 'From'"),
    (f"{PRODUCT}?limit=5", 400, "unknown query parameter 'limit'"),
    (f"{REVIEWER}?from=2015-01-01&product_id=x", 400, "unknown query parameter"),
    (f"{PRODUCT}?from=%FF", 400, "not valid UTF-8"),
    (f"{PRODUCT}?" + "&".join(f"p{n}=1" for n in range(50)), 400, "too many"),
    ("/v1/products/" + "x" * 65 + "/reviews/summary", 400, "limit is 64"),
    ("/v1/reviewers/" + "y" * 65 + "/reviews/summary", 400, "limit is 64"),
    ("/v1/products/%FF%FE/reviews/summary", 400, "not valid UTF-8"),
    ("/v1/products/a%00b/reviews/summary", 400, "control character"),
    ("/v1/reviewers/%0A/reviews/summary", 400, "control character"),
    ("/v1/products/NO-SUCH-PRODUCT/reviews/summary", 404, "no reviews at all"),
    ("/v1/reviewers/NO-SUCH-REVIEWER/reviews/summary?from=2015-01-01", 404, "no reviews"),
    ("/v1/products//reviews/summary", 404, "not found"),
    ("/v1/products/ENDS/reviews/weekly", 404, "not found"),  # no such route
    ("/nowhere", 404, "not found"),
]


def assert_problem(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    assert words.lower() in body["detail"].lower(), body


@pytest.mark.parametrize(("url", "status", "words"), BAD_REQUESTS)
def test_bad_request_is_a_problem(client: httpx.Client, url: str, status: int, words: str) -> None:
    assert_problem(client.get(url), status, words)


def test_wrong_method_is_a_problem(client: httpx.Client) -> None:
    assert_problem(client.post(PRODUCT), 405, "not allowed")


def test_oversized_body_is_a_problem(server: RunningServer) -> None:
    # Sanic's default REQUEST_MAX_SIZE is 100 MB; a declared length over it is refused
    # before the body is read.
    answer = send_raw(
        server.base_url,
        f"GET {PRODUCT} HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n".encode(),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 413


def test_problem_names_the_parameter(client: httpx.Client) -> None:
    body = client.get(f"{PRODUCT}?to=2015-02-30").json()
    assert body["parameter"] == "to"
    assert body["type"] == "/problems/invalid-parameter"
