"""CORS for browser clients on an allow-list of origins (off unless CORS_ORIGINS is set).

A browser sends a preflight OPTIONS before a GET that carries Authorization; the data
routes answer it, and every response to an allowed Origin names that origin. An origin
not on the list gets no CORS header at all, so the browser refuses the response.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from sanic import HTTPResponse, Request
from sanic.response import BaseHTTPResponse

PREFLIGHT_MAX_AGE_S = "600"
ALLOWED_REQUEST_HEADERS = "Authorization, Accept, If-None-Match"
EXPOSED_HEADERS = "ETag, Retry-After"


def preflight_handler(
    origins: frozenset[str],
) -> Callable[..., Coroutine[Any, Any, HTTPResponse]]:
    """The OPTIONS handler of the data routes."""

    async def cors_preflight(request: Request, **path: str) -> HTTPResponse:
        headers: dict[str, str] = {"Vary": "Origin"}
        if request.headers.get("origin") in origins:
            headers |= {
                "Access-Control-Allow-Origin": request.headers["origin"],
                "Access-Control-Allow-Methods": "GET",
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
            }
        return HTTPResponse(status=204, headers=headers)

    return cors_preflight


def allow_origin(origins: frozenset[str], request: Request, response: BaseHTTPResponse) -> None:
    """Name an allowed Origin on any response (errors included), and vary on Origin."""
    origin = request.headers.get("origin")
    if origin in origins and "Access-Control-Allow-Origin" not in response.headers:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        vary = response.headers.get("Vary")
        if not vary or "Origin" not in vary:
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
