"""The HTTP layer itself, probed with raw bytes: request heads RFC 9112 says to refuse are a
400 before routing, with nothing smuggled after them; HEAD answers every GET route with the
GET's headers and no body (RFC 9110 9.3.2)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import RunningServer, send_raw

from service.catalog import load_catalog

ENDPOINTS = load_catalog().endpoints

# A request hidden in the body: a server that frames the first request by Content-Length
# when a proxy honoured its Transfer-Encoding (or the reverse) would answer it too.
HIDDEN = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n"
CHUNKED_BODY = b"0\r\n\r\n" + HIDDEN


def probe(*header_lines: bytes, request_line: bytes = b"GET /health/live HTTP/1.1") -> bytes:
    return request_line + b"\r\n" + b"".join(line + b"\r\n" for line in header_lines) + b"\r\n"


# name: (raw request, words of the 400's detail)
SMUGGLING_PROBES = {
    "space-before-colon": (
        probe(b"Host: t", b"Transfer-Encoding : chunked", b"Content-Length: 5") + CHUNKED_BODY,
        "whitespace between the field name and the colon",
    ),
    "tab-before-colon": (
        probe(b"Host: t", b"Transfer-Encoding\t: chunked", b"Content-Length: 5") + CHUNKED_BODY,
        "whitespace between the field name and the colon",
    ),
    "obs-fold": (
        probe(b"Host: t", b"X-Folded: a", b"  b") + HIDDEN,
        "obs-fold",
    ),
    "transfer-encoding-on-obs-fold": (
        probe(b"Host: t", b"X-Ignore: x", b" Transfer-Encoding: chunked", b"Content-Length: 5")
        + CHUNKED_BODY,
        "obs-fold",
    ),
    "content-length-and-transfer-encoding": (
        probe(b"Host: t", b"Content-Length: 5", b"Transfer-Encoding: chunked") + CHUNKED_BODY,
        "both Transfer-Encoding and Content-Length",
    ),
    "transfer-encoding-then-content-length": (
        probe(b"Host: t", b"Transfer-Encoding: chunked", b"Content-Length: 46") + CHUNKED_BODY,
        "both Transfer-Encoding and Content-Length",
    ),
    "no-host": (probe(b"Content-Length: 0") + HIDDEN, "must have a Host header"),
    "two-hosts": (probe(b"Host: t", b"Host: u") + HIDDEN, "more than one Host header"),
    "nul-in-value": (probe(b"Host: t", b"X-Nul: a\x00b") + HIDDEN, "control character"),
    "bare-lf-in-value": (
        probe(b"Host: t", b"X-Lf: a\nTransfer-Encoding: chunked", b"Content-Length: 5")
        + CHUNKED_BODY,
        "control character",
    ),
    "bare-cr-in-value": (probe(b"Host: t", b"X-Cr: a\rb") + HIDDEN, "control character"),
    "bare-cr-and-bare-lf": (probe(b"Host: t", b"X-Both: a\rb\nc") + HIDDEN, "control character"),
    "name-not-a-token": (probe(b"Host: t", b"X(y): 1") + HIDDEN, "not a token"),
    "line-without-colon": (probe(b"Host: t", b"no colon here") + HIDDEN, "no colon"),
}


def responses_in(answer: bytes) -> int:
    """How many responses `answer` holds (each starts with a status line)."""
    return len(re.findall(rb"HTTP/1\.1 \d{3} [A-Z]", answer))


@pytest.mark.parametrize(("raw", "words"), SMUGGLING_PROBES.values(), ids=SMUGGLING_PROBES)
def test_ambiguous_framing_is_a_400_and_nothing_after_it_runs(
    server: RunningServer, raw: bytes, words: str
) -> None:
    answer = send_raw(server.base_url, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400
    assert words.lower() in problem["detail"].lower(), problem
    assert responses_in(answer) == 1, answer  # the hidden request was never run


@pytest.mark.parametrize(
    "raw",
    [
        probe(request_line=b"GET /health/live HTTP/1.0"),  # Host is HTTP/1.1's requirement
        probe(b"Host: t", b"Transfer-Encoding: chunked") + b"0\r\n\r\n",
        probe(b"host:t", b"X-Tab:\tvalue\t", b"X-Obs-Text: caf\xe9"),
    ],
    ids=["http-1.0-without-host", "chunked-get", "no-space-tab-and-obs-text"],
)
def test_well_formed_heads_are_served(server: RunningServer, raw: bytes) -> None:
    answer = send_raw(
        server.base_url, raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert responses_in(answer) == 1


# HEAD ------------------------------------------------------------------------------------

PRODUCT = "/v1/products/ENDS/reviews/summary"
GET_TARGETS = [
    "/",
    "/health/live",
    "/health/ready",
    "/openapi.json",
    "/docs",
    "/docs/assets/swagger-ui.css",
    "/metrics",
    *(
        endpoint.path.replace("{product_id}", "ENDS").replace("{reviewer_id}", "TIE")
        for endpoint in ENDPOINTS
    ),
    f"{PRODUCT}?format=csv",
    f"{PRODUCT}?from=2015-02-30",  # 400
    "/v1/products/NO-SUCH-PRODUCT/reviews/summary",  # 404
    "/docs/assets/nothing.js",  # 404
    "/nowhere",  # 404 from Sanic's router
]
# Headers that differ between any two answers.
PER_RESPONSE = {"date", "x-request-id"}


def answer_to(server: RunningServer, method: str, target: str) -> tuple[str, dict[str, str], bytes]:
    raw = f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    head, _, body = send_raw(server.base_url, raw).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status_line, headers, body


@pytest.mark.parametrize("target", GET_TARGETS)
def test_head_is_the_get_without_its_body(server: RunningServer, target: str) -> None:
    get_status, get_headers, get_body = answer_to(server, "GET", target)
    head_status, head_headers, head_body = answer_to(server, "HEAD", target)
    assert head_status == get_status
    assert head_body == b"", "a HEAD answer has no body"
    if target == "/metrics":  # the counters move between the two requests
        assert head_headers["content-type"] == get_headers["content-type"]
        return
    assert int(head_headers["content-length"]) == len(get_body)
    for name in set(get_headers) | set(head_headers):
        if name not in PER_RESPONSE:
            assert head_headers.get(name) == get_headers.get(name), name


def test_other_methods_are_still_405(server: RunningServer) -> None:
    status, headers, body = answer_to(server, "DELETE", PRODUCT)
    assert status.startswith("HTTP/1.1 405 ")
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 405
