"""Every request's bookkeeping, in one place: the request id, CORS headers, one access-log
line and the request metrics.

This is deliberately not Sanic middleware: Sanic dispatches two signals around every
middleware call, which cost about 60 µs of CPU a request for the two middlewares this
needed (docs/benchmarks.md), a quarter of what the bare framework spends on a request.
Instead, every route handler is wrapped by `instrumented`, and the responses Sanic makes
before any handler runs (no such route, wrong method, head too large, request timeout)
are finished by the error handler, which calls `finish_response` too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeAlias, cast

from sanic import HTTPResponse, Request
from sanic.response import BaseHTTPResponse

from service.http.cors import allow_origin
from service.http.observability import REQUEST_ID_HEADER, access_fields
from service.http.problems import ProblemErrorHandler

Handler: TypeAlias = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def instrumented(handler: Handler) -> Handler:
    """`handler`, timed and finished; its exceptions become problem+json responses here
    (the same ones the error handler would give) so that they are finished alike."""

    async def finished_handler(request: Request, **path: str) -> HTTPResponse:
        request.ctx.started = time.perf_counter()
        try:
            response = await handler(request, **path)
        except Exception as error:  # noqa: BLE001 - every error becomes a problem response
            error_handler = cast(ProblemErrorHandler, request.app.error_handler)
            response = error_handler.problem(request, error)
        finish_response(request, response)
        return response

    finished_handler.__name__ = handler.__name__
    finished_handler.__doc__ = handler.__doc__
    return finished_handler


def finish_response(request: Request, response: BaseHTTPResponse) -> None:
    """Request id and CORS headers on the response, then the access line and metrics."""
    ctx = request.app.ctx
    # An internal error's log line took the id already (service/http/problems.py).
    request_id = getattr(request.ctx, "request_id", None) or ctx.request_ids.take(
        request.headers.get(REQUEST_ID_HEADER)
    )
    response.headers[REQUEST_ID_HEADER] = request_id
    if ctx.cors_origins:
        allow_origin(ctx.cors_origins, request, response)
    fields = access_fields(request, response, request_id)
    ctx.access_log.write(fields)
    ctx.metrics.observe_request(fields)
    request.ctx.finished = True  # the error handler must not finish it again
