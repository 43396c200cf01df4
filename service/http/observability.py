"""Structured logs: one JSON object per line, written off the event loop.

Every line (access lines and log records, Sanic's own included) is appended to an
in-memory queue; a writer thread wakes every FLUSH_INTERVAL_S and writes what has queued
in one call, so a slow stdout (a full pipe, a busy log shipper) never blocks the event
loop, and a request pays for one orjson call and an append rather than a trip through
the logging module (measured in docs/benchmarks.md). If stdout stops taking lines, the
queue is bounded: lines beyond MAX_QUEUED_LINES are dropped and counted, and the count is
logged once stdout takes lines again.

The access log is one line per request: time, request id, method, route template (never
the raw path or query string: they may carry ids or junk a client sent), status, duration,
client address, and the caller's key id when API keys are on. No query string, header,
key or database URL is ever logged.

Other libraries' records are not ours to word: Sanic logs `request.url`, query string
included, when a handler fails or a transfer is cut. So every record is scrubbed on its
way out (`scrub`): URLs and request paths go, and so does any query string, query value or
header value of the request being served (a valid X-Request-ID excepted) wherever it
appears, tracebacks included.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import sys
import threading
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any
from urllib.parse import parse_qsl, unquote

import orjson
from sanic import Request
from sanic.exceptions import ServerError
from sanic.response import BaseHTTPResponse

ACCESS_LOGGER = "reviews_api.access"
REQUEST_ID_HEADER = "X-Request-ID"
# What a caller may send as its own request id: short, printable, no spaces or quotes.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Fields a record may carry beyond the message, copied into the JSON line when present.
ACCESS_FIELDS = ("request_id", "method", "route", "status", "duration_ms", "client", "key_id")
FLUSH_INTERVAL_S = 0.1
# About 30 MB of lines: a minute of a busy worker's access log.
MAX_QUEUED_LINES = 100_000
# What `scrub` takes out of every log record. Shorter request values are left alone: they
# cannot be secrets, and replacing "1" or "json" everywhere would mangle the rest.
URL_PATTERN = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
REQUEST_REPR_PATTERN = re.compile(r"(<Request: [^ >]*) [^>]*>")
VALUE_SEPARATORS = re.compile(r"[\s;,=&]+")
MIN_SCRUBBED_LENGTH = 6
REDACTED = "[redacted]"


class LineWriter:
    """Takes finished lines on any thread; a daemon thread writes them in batches."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: collections.deque[bytes] = collections.deque()  # append/pop are atomic
        self._dropped = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def write(self, line: bytes) -> None:
        """Queue one line (without its newline)."""
        if len(self._lines) >= MAX_QUEUED_LINES:
            self._dropped += 1
            return
        self._lines.append(line)

    def stop(self) -> None:
        """Write what is still queued and stop the thread."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self._flush()

    def _run(self) -> None:
        while not self._stopping.wait(FLUSH_INTERVAL_S):
            self._flush()

    def _flush(self) -> None:
        batch = []
        while self._lines:
            batch.append(self._lines.popleft())
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            batch.append(_line("WARNING", "reviews_api.log", f"dropped {dropped} log lines"))
        if batch:
            batch.append(b"")
            self._stream.buffer.write(b"\n".join(batch))  # type: ignore[attr-defined]
            self._stream.flush()


class JsonLineHandler(logging.Handler):
    """Log records as JSON lines into the writer; formatted on the caller's thread (log
    records are rare: start-up, warnings, errors)."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extra = {name: getattr(record, name) for name in ACCESS_FIELDS if hasattr(record, name)}
            if record.exc_info:
                extra["exception"] = scrub(logging.Formatter().formatException(record.exc_info))
            message = scrub(record.getMessage())
            self._writer.write(_line(record.levelname, record.name, message, record.created, extra))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def scrub(text: str) -> str:
    """`text` without URLs, request paths, or any query string, query value or header value
    of the request being served (found through Sanic's current-request context)."""
    text = URL_PATTERN.sub(REDACTED, text)
    text = REQUEST_REPR_PATTERN.sub(r"\1>", text)
    try:
        request = Request.get_current()
    except ServerError:  # not serving a request: start-up, shutdown, a background task
        return text
    for secret in sorted(_client_values(request), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _client_values(request: Request) -> set[str]:
    """Every query string, query value and header value the client sent, whole and in
    parts (a Bearer token, a cookie's value), as text and percent-decoded."""
    raw_target = bytes(request.raw_url or b"")
    query = raw_target.partition(b"?")[2].decode("latin-1")
    values = [query, unquote(query), *(value for _, value in parse_qsl(query))]
    for name, value in request.headers.items():
        if name.lower() == REQUEST_ID_HEADER.lower() and REQUEST_ID_PATTERN.fullmatch(value):
            continue  # the one client value the logs may carry
        values.append(value)
    found = set()
    for value in values:
        for part in (value, *VALUE_SEPARATORS.split(value)):
            if len(part) >= MIN_SCRUBBED_LENGTH:
                found.add(part)
    return found


def configure_logging(level: str) -> LineWriter:
    """Send every log record to stdout as JSON lines; returns the writer, which the
    caller stops at shutdown to flush what is left."""
    writer = LineWriter(sys.stdout)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(JsonLineHandler(writer))
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.access", "sanic.websockets"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers.clear()
        sanic_logger.propagate = True
    return writer


class AccessLog:
    """One JSON line per request, straight into the writer (no logging-module record)."""

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer
        self.enabled = logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)

    def write(self, fields: dict[str, Any]) -> None:
        if self.enabled:
            message = f"{fields['method']} {fields['route']} {fields['status']}"
            self._writer.write(_line("INFO", ACCESS_LOGGER, message, extra=fields))


def _line(
    level: str,
    logger: str,
    message: str,
    created: float | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    line = {
        "time": _utc_time(time.time() if created is None else created),
        "level": level,
        "logger": logger,
        "pid": os.getpid(),  # not cached: Sanic forks its workers after import
        "message": message,
    }
    if extra:
        line.update(extra)
    return orjson.dumps(line)


def _utc_time(now: float) -> str:
    """ISO 8601 with milliseconds; the date and time of day are formatted once a second."""
    second = int(now)
    return f"{_utc_second(second)}.{int((now - second) * 1000):03d}+00:00"


@lru_cache(maxsize=1)
def _utc_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class RequestIds:
    """A caller's X-Request-ID when well formed, else a new one: a random per-process
    prefix and a counter, 32 hex digits like a uuid4 but without a system call each."""

    def __init__(self) -> None:
        self._prefix = ""
        self._pid = -1
        self._counter = 0

    def take(self, header: str | None) -> str:
        if header and REQUEST_ID_PATTERN.fullmatch(header):
            return header
        if self._pid != os.getpid():  # a forked worker must not repeat its parent's ids
            self._pid, self._prefix, self._counter = os.getpid(), os.urandom(10).hex(), 0
        self._counter += 1
        return f"{self._prefix}{self._counter & 0xFFFFFFFFFFFF:012x}"


def access_fields(request: Request, response: BaseHTTPResponse, request_id: str) -> dict[str, Any]:
    """What the access log line and the request metrics say about one request."""
    started = getattr(request.ctx, "started", None)  # unset when no handler ran
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    fields: dict[str, Any] = {
        "request_id": request_id,
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
    """The matched route's template as documented (`/v1/things/{thing_id}/...`), never
    the path a client sent; `unmatched` for no route."""
    route = request.route
    if route is None:
        return "unmatched"
    return _template(route.path)


@lru_cache(maxsize=256)  # one entry per route
def _template(sanic_path: str) -> str:
    return "/" + SANIC_PARAMETER.sub(r"{\1}", sanic_path).lstrip("/")


SANIC_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")
