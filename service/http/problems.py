"""One error shape for every failure: RFC 9457 `application/problem+json`.

Routes raise `Problem`; Sanic's own errors (404, 405, 413, ...) and unexpected exceptions
are turned into the same shape by `ProblemErrorHandler`, so a client never sees HTML or a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from sanic import HTTPResponse, Request
from sanic.exceptions import BadRequest, RequestCancelled, SanicException
from sanic.handlers import ErrorHandler

from service.http.observability import REQUEST_ID_HEADER, route_template

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger("reviews_api.errors")

# The status a response is logged with when the client left before it was sent (nginx's).
CLIENT_CLOSED_REQUEST = 499

# Problem types the service itself emits. `about:blank` (RFC 9457 section 4.2.1) covers
# plain HTTP errors whose title says it all (no route, wrong method, body too large).
INVALID_PARAMETER = "/problems/invalid-parameter"
NOT_FOUND = "/problems/not-found"
DATABASE_UNAVAILABLE = "/problems/database-unavailable"
OVERLOADED = "/problems/overloaded"
UNREPRESENTABLE_DATA = "/problems/unrepresentable-data"
STALE_CURSOR = "/problems/stale-cursor"
REPLICA_BEHIND = "/problems/replica-behind"
# A standby replays a load within a second or so: come back then.
REPLICA_BEHIND_RETRY_AFTER_S = "1"
INTERNAL_ERROR = "/problems/internal-error"


class Problem(SanicException):
    """An error to answer as problem+json: `detail` tells the client exactly what was wrong."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        problem_type: str = "about:blank",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, status_code=status, headers=headers, quiet=status < 500)
        self.detail = detail
        self.problem_type = problem_type
        self.extra = extra or {}


def stale_cursor() -> Problem:
    """409: the cursor was made under an older data version than its page would be read from."""
    return Problem(
        409,
        "the data changed since this cursor was made (a new load); start again from the first page",
        problem_type=STALE_CURSOR,
    )


def replica_behind(what: str) -> Problem:
    """503 Retry-After: 1: `what` (the client's ETag, a cursor) names a newer data version
    than this instance serves: its read database (a standby) has not replayed that load yet,
    and answering from the older data would take the client back in time."""
    return Problem(
        503,
        f"{what} under a newer data version than this instance serves yet (its database "
        "replica is catching up); retry shortly",
        problem_type=REPLICA_BEHIND,
        headers={"Retry-After": REPLICA_BEHIND_RETRY_AFTER_S},
    )


def invalid_parameter(detail: str, parameter: str) -> Problem:
    """A 400 about one named query or path parameter."""
    return Problem(400, detail, problem_type=INVALID_PARAMETER, extra={"parameter": parameter})


def problem_response(
    status: int,
    detail: str,
    *,
    problem_type: str = "about:blank",
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HTTPResponse:
    """Render a problem document with the status's standard reason phrase as its title."""
    body = {
        "type": problem_type,
        "title": _reason_phrase(status),
        "status": status,
        "detail": detail,
        **(extra or {}),
    }
    return HTTPResponse(
        orjson.dumps(body), status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


# The request line and headers together (Sanic's REQUEST_MAX_HEADER_SIZE, set in create_app).
HEAD_LIMIT_BYTES = 8192


def _client_error_detail(exception: SanicException) -> str:
    """Sanic turns any exception in its request-head parser into a bare "Bad Request"; the
    service's own head checks (service/http/framing.py) say what was wrong."""
    cause = exception.__context__
    if isinstance(exception, BadRequest) and isinstance(cause, MalformedRequest):
        return str(cause)
    if exception.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return (
            f"{exception}: the request line and headers must fit in {HEAD_LIMIT_BYTES} bytes; "
            "split a long request (a batch of many ids) into several"
        )
    return str(exception) or _reason_phrase(exception.status_code)


class MalformedRequest(Exception):
    """A request head that RFC 9112 says to refuse with a 400 (raised before routing)."""


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemErrorHandler(ErrorHandler):
    """Sanic error handler answering every exception with problem+json.

    `finish(request, response)` runs on each response this handler makes for Sanic (errors
    raised before or outside a route handler: unknown route, wrong method, head too large,
    timeouts), so that those are logged and counted like the rest (service/http/lifecycle.py).
    """

    def __init__(self, finish: Callable[[Request, HTTPResponse], None]) -> None:
        super().__init__()
        self._finish = finish

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        response = self.problem(request, exception)
        if request is not None and not getattr(request.ctx, "finished", False):
            self._finish(request, response)
        return response

    def problem(self, request: Request, exception: Exception) -> HTTPResponse:
        """The problem+json response for `exception`; unexpected ones are logged."""
        if isinstance(exception, Problem):
            return problem_response(
                exception.status_code,
                exception.detail,
                problem_type=exception.problem_type,
                headers=dict(exception.headers or {}),
                extra=exception.extra,
            )
        if isinstance(exception, SanicException) and exception.status_code < 500:
            # Sanic's own client errors: unknown route, method, oversized body or header.
            return problem_response(
                exception.status_code,
                _client_error_detail(exception),
                headers=dict(exception.headers or {}),
            )
        if isinstance(exception, RequestCancelled):
            # The client closed the connection mid-response (a load generator stopping, a
            # browser tab closed): nothing is wrong here, and nobody is left to answer.
            logger.info("the client closed the connection before the response was sent")
            return problem_response(CLIENT_CLOSED_REQUEST, "The client closed the connection.")
        # A bug or an unexpected failure: log it with its traceback, tell the client nothing
        # about the internals. Not Sanic's ErrorHandler.log: it prints the URL, query string
        # (which may hold a key) included; the route template says where it happened.
        request_id = request.app.ctx.request_ids.take(request.headers.get(REQUEST_ID_HEADER))
        request.ctx.request_id = request_id  # the access line will carry the same id
        logger.error(
            "unhandled %s in %s %s",
            type(exception).__name__,
            request.method,
            route_template(request),
            exc_info=exception,
            extra={"request_id": request_id},
        )
        status = exception.status_code if isinstance(exception, SanicException) else 500
        return problem_response(
            status,
            "The server failed to answer this request; the error has been logged.",
            problem_type=INTERNAL_ERROR,
        )
