"""Access control (API_KEYS) and CORS (CORS_ORIGINS): both off by default, on by setting."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from conftest import RunningServer, send_raw, start_server, stop_server

KEY = "s3cret-key-for-tests"
OTHER_KEY_DIGEST = hashlib.sha256(b"another key").hexdigest()
DATA = "/v1/products/ENDS/reviews/summary"
OPEN_ROUTES = ["/", "/health/live", "/health/ready", "/openapi.json", "/docs"]
ORIGIN = "https://bi.example.com"


@pytest.fixture(scope="module")
def keyed_server(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    digests = f"{OTHER_KEY_DIGEST},{hashlib.sha256(KEY.encode()).hexdigest()}"
    server = start_server(
        sqlite_url,
        tmp_path_factory.mktemp("keyed") / "server.log",
        API_KEYS=digests,
        CORS_ORIGINS=f"{ORIGIN},http://localhost:3000",
    )
    yield server
    stop_server(server)


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, None),
        ("Bearer wrong-key", "invalid_token"),
        (f"Basic {KEY}", None),
        ("Bearer", None),
    ],
)
def test_data_routes_need_a_valid_key(
    keyed_server: RunningServer, authorization: str | None, error: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with keyed_server.client() as client:
        response = client.get(DATA, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="reviews-api"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert KEY not in response.text


def raw_answer(server: RunningServer, *header_lines: bytes) -> tuple[bytes, dict[str, object]]:
    """(status line, problem) of a GET of the data route with these header lines as sent."""
    head = b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" % DATA.encode()
    answer = send_raw(server.base_url, head + b"".join(h + b"\r\n" for h in header_lines) + b"\r\n")
    status_and_headers, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in status_and_headers.lower(), answer
    return status_and_headers.split(b"\r\n")[0], json.loads(body)


@pytest.mark.parametrize(
    "key",
    [b"\xff", b"caf\xe9", b"\xc3\x28", KEY.encode() + b"\x80"],
    ids=["ff", "latin-1", "bad-utf-8", "valid-key-and-a-byte"],
)
def test_a_key_that_is_not_utf_8_is_a_401(keyed_server: RunningServer, key: bytes) -> None:
    status, problem = raw_answer(keyed_server, b"Authorization: Bearer " + key)
    assert status == b"HTTP/1.1 401 Unauthorized", problem
    assert problem["type"] == "/problems/unauthorized"


def test_two_authorization_headers_are_a_400(keyed_server: RunningServer) -> None:
    valid = f"Authorization: Bearer {KEY}".encode()
    status, problem = raw_answer(keyed_server, valid, valid)
    assert status == b"HTTP/1.1 400 Bad Request", problem
    assert "more than one Authorization header" in str(problem["detail"])


def test_metrics_need_a_key_when_keys_are_on(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        refused = client.get("/metrics")
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert allowed.status_code == 200
    assert "reviews_api_requests_total" in allowed.text


def test_a_valid_key_gets_a_private_answer(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        response = client.get(DATA, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("private")
    assert "Authorization" in response.headers["vary"]


@pytest.mark.parametrize("path", OPEN_ROUTES)
def test_service_routes_stay_open(keyed_server: RunningServer, path: str) -> None:
    with keyed_server.client() as client:
        assert client.get(path).status_code == 200


def test_openapi_marks_data_routes_as_secured(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/products/{product_id}/reviews/summary"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    assert "401" in operation["responses"]


def test_cors_preflight_and_response_for_an_allowed_origin(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        preflight = client.options(
            DATA,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        response = client.get(DATA, headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in response.headers["access-control-expose-headers"]
    assert "Origin" in response.headers["vary"]


def test_cors_ignores_other_origins(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        preflight = client.options(
            DATA, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        response = client.get(DATA, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers


def test_off_by_default(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get(DATA, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
