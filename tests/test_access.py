"""Access control (API_KEYS) and CORS (CORS_ORIGINS): both off by default, on by setting;
on both backends, PostgreSQL with its response cache serving (a cached answer must not
skip the key check nor lose its CORS headers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import oracle
import pytest
from conftest import RunningServer, send_raw, start_server, stop_server, wait_until_caching
from review_rows import Review

KEY = "s3cret-key-for-tests"
OTHER_KEY_DIGEST = hashlib.sha256(b"another key").hexdigest()
DATA = "/v1/products/ENDS/reviews/summary"
OPEN_ROUTES = ["/", "/health/live", "/health/ready", "/openapi.json", "/docs", "/explore"]
ORIGIN = "https://bi.example.com"


@pytest.fixture(scope="module")
def keyed_server(
    backend: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    digests = f"{OTHER_KEY_DIGEST},{hashlib.sha256(KEY.encode()).hexdigest()}"
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("keyed") / "server.log",
        API_KEYS=digests,
        CORS_ORIGINS=f"{ORIGIN},http://localhost:3000",
        LOG_LEVEL="INFO",
    )
    if backend == "postgres":
        wait_until_caching(server)
    yield server
    stop_server(server)


def expected_data(reviews: list[Review]) -> object:
    return oracle.product_summary(reviews, "ENDS", None, None)


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


# How clients write the header: the scheme is case-insensitive (RFC 9110 11.1), and
# whitespace around the key is not part of it.
@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER {KEY}", f"Bearer   {KEY}"],
)
def test_a_valid_key_gets_a_private_answer(
    keyed_server: RunningServer, reviews: list[Review], authorization: str
) -> None:
    with keyed_server.client() as client:
        response = client.get(DATA, headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.json() == expected_data(reviews)
    assert response.headers["cache-control"].startswith("private")
    assert "Authorization" in response.headers["vary"]


def test_whitespace_after_the_key_is_not_part_of_it(keyed_server: RunningServer) -> None:
    # Raw bytes: httpx refuses to send a header value ending in whitespace.
    answer = send_raw(
        keyed_server.base_url,
        f"GET {DATA} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        f"Authorization: Bearer {KEY} \t \r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]


def test_an_answer_already_given_still_needs_the_key(
    keyed_server: RunningServer, reviews: list[Review]
) -> None:
    """On PostgreSQL the second request is a response-cache hit: the key is checked first."""
    with keyed_server.client() as client:
        for _ in range(2):
            answer = client.get(DATA, headers={"Authorization": f"Bearer {KEY}"})
            assert answer.json() == expected_data(reviews)
            assert client.get(DATA).status_code == 401
            assert client.get(DATA, headers={"Authorization": "Bearer wrong"}).status_code == 401


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


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        (DATA, None, 401),
        (DATA, "Bearer wrong-key", 401),
        (f"{DATA}?from=2015-02-30", f"Bearer {KEY}", 400),
        ("/v1/products/NO-SUCH-PRODUCT/reviews/summary", f"Bearer {KEY}", 404),
        ("/nowhere", None, 404),
        ("/docs/assets/no-such-file.js", None, 404),
    ],
)
def test_cors_headers_are_on_error_responses_too(
    keyed_server: RunningServer, path: str, authorization: str | None, status: int
) -> None:
    """A browser can read an error only when it names the origin: else the page sees a
    network error instead of the problem's detail."""
    headers = {"Origin": ORIGIN} | ({"Authorization": authorization} if authorization else {})
    with keyed_server.client() as client:
        response = client.get(path, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == "ETag, Retry-After"
    assert response.headers["vary"] == "Origin"  # a problem varies on nothing else


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "this route needs an API key: send Authorization: Bearer <key>"),
        ("Basic abc", "this route needs an API key: send Authorization: Bearer <key>"),
        ("Bearer wrong-key", "the API key is not valid"),
    ],
)
def test_a_refused_key_is_told_exactly_why(
    keyed_server: RunningServer, authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with keyed_server.client() as client:
        response = client.get(DATA, headers=headers)
    assert response.json() == {
        "type": "/problems/unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": detail,
    }


def test_the_preflight_says_what_is_allowed(keyed_server: RunningServer) -> None:
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x"}
    with keyed_server.client() as client:
        allowed = client.options(DATA, headers={"Origin": ORIGIN, **asked})
        other = client.options(DATA, headers={"Origin": "https://evil.example", **asked})
    assert allowed.status_code == other.status_code == 204
    assert {k: v for k, v in allowed.headers.items() if k.startswith("access-control-")} == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET",
        "access-control-allow-headers": "Authorization, Accept, If-None-Match",
        "access-control-max-age": "600",
    }
    assert allowed.headers["vary"] == other.headers["vary"] == "Origin"
    assert not [k for k in other.headers if k.startswith("access-control-")]


def test_an_allowed_origin_may_read_the_tag_and_the_retry_delay(
    keyed_server: RunningServer,
) -> None:
    with keyed_server.client() as client:
        response = client.get(DATA, headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"})
    assert response.headers["access-control-expose-headers"] == "ETag, Retry-After"
    assert response.headers["vary"] == "Accept, Authorization, Origin"


def test_cors_ignores_other_origins(keyed_server: RunningServer) -> None:
    with keyed_server.client() as client:
        preflight = client.options(
            DATA, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
        response = client.get(DATA, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers


def test_off_by_default(server: RunningServer, reviews: list[Review]) -> None:
    with server.client() as client:
        response = client.get(DATA, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.json() == expected_data(reviews)
    assert "access-control-allow-origin" not in response.headers
