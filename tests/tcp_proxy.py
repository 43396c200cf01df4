"""A TCP proxy between the service and PostgreSQL that a test can break on purpose.

The failures are the ones a network gives: the database is down (nothing listens, or every
connection is dropped as soon as it is made), the link black-holes traffic (bytes stop
flowing but nothing is closed, as in a partition), or established connections are killed.
It runs an asyncio loop in a thread of the test process and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
CHUNK = 65536
CONTROL_TIMEOUT_S = 5


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; `stop()` must be called (use `with`)."""

    def __init__(self, upstream_host: str, upstream_port: int, *, listening: bool = True) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = _free_port()
        self.accepted = 0  # connections accepted: how often a client tried to connect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._listener: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing: asyncio.Event | None = None
        self._resetting = False
        self._closing = False
        self._listening_at_start = listening
        self._tripwire: bytes | None = None
        self.tripped = False

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._init())
        if self._listening_at_start:
            self.listen()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # What a test controls -------------------------------------------------------------

    def listen(self) -> None:
        """Accept connections (again) on the same port."""
        self._call(self._listen())

    def reset_new_connections(self, reset: bool = True) -> None:
        """Accept, then drop at once: a server that is down, but countable (`accepted`)."""
        self._resetting = reset

    def blackhole(self) -> None:
        """Stop moving bytes in both directions without closing anything (a partition).
        Bytes wait in the kernel's buffers and flow again on `forward()`, as TCP would."""
        self._call(self._set_flowing(False))

    def forward(self) -> None:
        self._call(self._set_flowing(True))

    def kill_when_client_sends(self, pattern: bytes) -> None:
        """Kill every connection the moment a client sends `pattern` (it is not forwarded):
        the link lost at an exact step of a protocol, e.g. before a given query. `tripped`
        says whether it happened."""
        self._tripwire = pattern

    def kill_connections(self) -> None:
        """Close every established connection at once, on both sides, unsent bytes lost."""
        self._call(self._kill_all())

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CONTROL_TIMEOUT_S)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    @property
    def url_netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    # The loop's side ------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT_S)

    async def _init(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def _listen(self) -> None:
        if self._listener is None:
            self._listener = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def _set_flowing(self, flowing: bool) -> None:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _kill_all(self) -> None:
        for link in list(self._links):
            link.abort()

    async def _shutdown(self) -> None:
        """End every connection and let each handler return by itself (cancelling them
        trips an asyncio 3.11 callback that logs an error for each cancelled handler)."""
        self._closing = True
        await self._close_listener()
        await self._set_flowing(True)  # handlers held by a black hole wake up and return
        await self._kill_all()
        handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if handlers:
            await asyncio.wait(handlers, timeout=CONTROL_TIMEOUT_S / 2)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        if self._resetting:
            client.transport.abort()
            return
        assert self._flowing is not None
        link = _Link(client)
        self._links.add(link)
        try:
            # A black hole also swallows the connection attempt: no upstream until it heals.
            await self._flowing.wait()
            if self._closing:
                return
            try:
                upstream_reader, upstream = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            link.upstream = upstream
            await asyncio.gather(
                self._pump(client_reader, upstream, from_client=True),
                self._pump(upstream_reader, client, from_client=False),
                return_exceptions=True,
            )
        finally:
            link.abort()
            self._links.discard(link)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        assert self._flowing is not None
        try:
            while data := await source.read(CHUNK):
                await self._flowing.wait()
                if from_client and self._tripwire is not None and self._tripwire in data:
                    self.tripped = True
                    await self._kill_all()
                    return
                sink.write(data)
                await sink.drain()
        finally:
            # One side closed: close the other, as a proxy without half-close support does.
            sink.close()


class _Link:
    """A client connection and, once connected, its upstream twin."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def abort(self) -> None:
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


def proxy_to(url: str, *, listening: bool = True) -> TcpProxy:
    """A proxy to the host and port of a PostgreSQL `url` (use it in a `with`)."""
    upstream = urlsplit(url)
    return TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5432, listening=listening)


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{proxy.url_netloc}"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
