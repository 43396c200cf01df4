"""CORS for browser clients on an allow-list of origins (off unless CORS_ORIGINS is set).

A browser sends a preflight OPTIONS before a GET that carries Authorization; the data
routes answer it, and every response to an allowed Origin names that origin. An origin
not on the list gets no CORS header at all, so the browser refuses the response.
"""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse

PREFLIGHT_MAX_AGE_S = "600"
ALLOWED_REQUEST_HEADERS = "Authorization, Accept, If-None-Match"
EXPOSED_HEADERS = "ETag, Retry-After"


def add_cors(app: Sanic[Any, Any], origins: tuple[str, ...], data_paths: list[str]) -> None:
    allowed = frozenset(origins)

    async def preflight(request: Request, **path: str) -> HTTPResponse:
        headers: dict[str, str] = {"Vary": "Origin"}
        if request.headers.get("origin") in allowed:
            headers |= {
                "Access-Control-Allow-Origin": request.headers["origin"],
                "Access-Control-Allow-Methods": "GET",
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_S,
            }
        return HTTPResponse(status=204, headers=headers)

    for number, path in enumerate(data_paths):
        app.add_route(preflight, path, methods=["OPTIONS"], name=f"cors_preflight_{number}")

    async def allow_origin(request: Request, response: BaseHTTPResponse) -> None:
        origin = request.headers.get("origin")
        if origin in allowed and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            vary = response.headers.get("Vary")
            if not vary or "Origin" not in vary:
                response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"

    app.register_middleware(allow_origin, "response")
