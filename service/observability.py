"""Structured logs: one JSON object per line, written off the event loop.

Every log record (Sanic's own included) goes through a QueueHandler: the request path
only appends to an in-memory queue, and a listener thread formats and writes the lines,
so a slow stdout (a full pipe, a busy log shipper) never blocks the event loop.

The access log is one line per request: time, request id, method, route template (never
the raw path or query string: they may carry ids or junk a client sent), status, duration,
client address, and the caller's key id when API keys are on. No query string, header,
key or database URL is ever logged.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sanic import Request
from sanic.response import BaseHTTPResponse

ACCESS_LOGGER = "reviews_api.access"
REQUEST_ID_HEADER = "X-Request-ID"
# What a caller may send as its own request id: short, printable, no spaces or quotes.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Fields a record may carry beyond the message, copied into the JSON line when present.
ACCESS_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "client", "key_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any access fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(level: str) -> logging.handlers.QueueListener:
    """Route every record through a queue to a JSON writer thread; returns the listener,
    which the caller stops at shutdown to flush what is left."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stdout)
    writer.setFormatter(JsonFormatter())
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(records))
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.access", "sanic.websockets"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers.clear()
        sanic_logger.propagate = True
    listener.start()
    return listener


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is well formed, else a new one."""
    if header and REQUEST_ID_PATTERN.fullmatch(header):
        return header
    return uuid.uuid4().hex


def start_request(request: Request) -> None:
    request.ctx.started = time.perf_counter()
    request.ctx.request_id = request_id(request.headers.get(REQUEST_ID_HEADER))


def access_fields(request: Request, response: BaseHTTPResponse) -> dict[str, Any]:
    """What the access log line and the request metrics say about one request."""
    started = getattr(request.ctx, "started", None)
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    fields: dict[str, Any] = {
        "request_id": getattr(request.ctx, "request_id", ""),
        "method": request.method,
        "route": route_template(request),
        "status": response.status,
        "duration_ms": round(duration_ms, 3),
        "client": request.remote_addr or request.ip,
    }
    key_id = getattr(request.ctx, "key_id", None)
    if key_id:
        fields["key_id"] = key_id
    return fields


def route_template(request: Request) -> str:
    """The matched route's template as documented (`/v1/products/{product_id}/...`), never
    the path a client sent; `unmatched` for no route."""
    route = request.route
    if route is None:
        return "unmatched"
    return "/" + SANIC_PARAMETER.sub(r"{\1}", route.path).lstrip("/")


SANIC_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")
