"""The fast tier's server: the app of `service.http.app.create_app`, served in this process.

Sanic's low-level `create_server` runs the app, its listeners and its error handler on an
event loop in a thread of the test process, on a free loopback port, so tests talk real
HTTP to it (httpx, or raw bytes) while the loop keeps running between requests: timers
such as the data version's re-read and the request timeout work as in production. It has
the shape of conftest's RunningServer (`base_url`, `client()`, `log()`), so the same test
bodies run against both tiers.

Why not sanic-testing's ReusableClient: it runs the loop only while a request is in
flight (a slow client, a raw-byte request or a timer would not progress between calls),
answers `(request, response)` pairs, and picks a random port that may be in use on a shared
machine. Why not an ASGI client: Sanic runs the start and stop listeners around every
request there (a store opened and closed each time).

What differs from `reviews-api serve`: one worker, no multiprocess metrics directory, and
the log lines go to a buffer the test reads instead of stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
from sanic import Sanic

from service.http.app import create_app
from service.settings import Settings

T = TypeVar("T")
START_TIMEOUT_S = 10
# Loggers of the test's own HTTP client, which shares this process's root logger.
TEST_CLIENT_LOGGERS = ("httpx", "httpcore")
STOP_TIMEOUT_S = 10
# Several apps of one name live in this process, one after the other (sanic-testing sets
# the same flag).
Sanic.test_mode = True


class _Lines(io.RawIOBase):
    """What the service writes to stdout, kept in memory (the log writer's thread writes)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with self._lock:
            self._chunks.append(bytes(data))
        return len(data)

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode(errors="replace")


class _Stdout:
    """Enough of a text stream for the service's log writer: `buffer` and `flush`."""

    def __init__(self, lines: _Lines) -> None:
        self.buffer = lines

    def flush(self) -> None:
        pass

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())


class InProcessServer:
    """`with InProcessServer(settings) as server:` the app serving on 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lines = _Lines()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="in-process-server", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._server: Any = None
        self.base_url = ""

    def __enter__(self) -> InProcessServer:
        self._saved_logging = _logging_state()
        try:
            with contextlib.redirect_stdout(_Stdout(self._lines)):  # type: ignore[type-var]
                self.app = create_app(self.settings)
        except BaseException:
            _restore_logging(self._saved_logging)
            raise
        self._loop = asyncio.new_event_loop()  # only now: nothing to close if the app failed
        for handler in logging.getLogger().handlers:  # the app's: the test's client is no part
            handler.addFilter(lambda record: not record.name.startswith(TEST_CLIENT_LOGGERS))
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the app did not start within {START_TIMEOUT_S} s")
        if self._failure is not None:
            self._thread.join(STOP_TIMEOUT_S)
            _restore_logging(self._saved_logging)
            raise RuntimeError("the app failed to start") from self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        _restore_logging(self._saved_logging)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def log(self) -> str:
        return self._lines.text()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop (e.g. to reach into app.ctx) and return its
        result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(STOP_TIMEOUT_S)

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        # A socket bound to a port the kernel picks (Sanic reads port 0 as its default).
        listening = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        try:
            self._server = loop.run_until_complete(
                self.app.create_server(sock=listening, access_log=False)
            )
            loop.run_until_complete(self._server.startup())
            loop.run_until_complete(self._server.before_start())
            loop.run_until_complete(self._server.after_start())
        except BaseException as error:  # noqa: BLE001 - reported to the test's thread
            self._failure = error
            listening.close()
        else:
            self._ready.set()
            loop.run_forever()
        # Whatever broke (a mutant under mutation testing may break anything), close all.
        with contextlib.suppress(BaseException):
            loop.run_until_complete(self._stop())
        loop.close()
        self._ready.set()

    async def _stop(self) -> None:
        """What Sanic's runner does on SIGTERM, without the grace period: stop listening,
        drop the connections, run the stop listeners (the store and log writer close)."""
        server = self._server
        if server is None:
            return
        try:
            await server.before_stop()
        finally:
            if server.server is not None:
                server.server.close()
                for connection in list(server.connections):
                    connection.abort()
                await server.server.wait_closed()
            await server.after_stop()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


LOGGERS = ("", "sanic.root", "sanic.error", "sanic.server", "sanic.access", "sanic.websockets")


def _logging_state() -> list[tuple[logging.Logger, list[logging.Handler], int, bool]]:
    """The root and Sanic loggers' handlers, levels and propagation: create_app takes them
    over (service/http/observability.py), and pytest's own handlers must come back."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    return [(log, log.handlers[:], log.level, log.propagate) for log in loggers]


def _restore_logging(state: list[tuple[logging.Logger, list[logging.Handler], int, bool]]) -> None:
    for log, handlers, level, propagate in state:
        log.handlers[:] = handlers
        log.setLevel(level)
        log.propagate = propagate


@contextlib.contextmanager
def serving(database_url: str, **environment: str) -> Iterator[InProcessServer]:
    """The app configured as `reviews-api serve` would be from this environment."""
    settings = Settings.from_env({"DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **environment})
    with InProcessServer(settings) as server:
        yield server
