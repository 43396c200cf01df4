"""The pages a browser gets (the explorer at /explore, the HTML index of /) and their
static assets, held in memory.

An asset is served under a fingerprinted name (`explorer.3f2a9c01d4.js`: a digest of its
bytes), so it may be cached for a year: a changed file is a new name. References between
assets (`/explore/assets/<name>` in HTML and CSS, `./<name>` in JavaScript imports) are
rewritten to the fingerprinted names before each file's own digest is taken, so a change
deep down renames everything that leads to it. The pages themselves keep their URLs and
are revalidated on each visit (`no-cache` with an ETag). Text is gzipped once, at start-up,
where that saves at least a tenth.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from sanic import HTTPResponse, Request

from service.http.caching import matches

ASSET_PREFIX = "/explore/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The pages load nothing from elsewhere, run no inline script or style, and may not be
# framed; `default-src 'self'` covers the data calls (connect-src) and the chart's canvas.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
COMPRESSED_TYPES = ("text/", "application/javascript", "image/svg+xml")
SMALLEST_WORTH_GZIP = 1024
GZIP_MAX_RATIO = 0.9
FINGERPRINT_HEX = 10


@dataclass(frozen=True)
class StaticFile:
    """One file's bytes as served: plain and, where it pays, gzipped."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    cache_control: str

    def response(self, request: Request, extra: dict[str, str] | None = None) -> HTTPResponse:
        headers = {"ETag": self.etag, "Cache-Control": self.cache_control, **(extra or {})}
        if self.gzipped is not None:
            headers["Vary"] = ", ".join(filter(None, [headers.get("Vary"), "Accept-Encoding"]))
        if matches(request.headers.get("if-none-match"), self.etag):
            return HTTPResponse(status=304, headers=headers)
        body = self.body
        if self.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
            body, headers["Content-Encoding"] = self.gzipped, "gzip"
        return HTTPResponse(body, headers=headers, content_type=self.content_type)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """RFC 9110 12.5.3: gzip (or `*`) listed without q=0."""
    for coding in (accept_encoding or "").split(","):
        name, *params = (part.strip() for part in coding.split(";"))
        if name.lower() in ("gzip", "x-gzip", "*"):
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00") for p in params)
    return False


def static_file(body: bytes, name: str, cache_control: str) -> StaticFile:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type == "application/javascript":
        content_type += "; charset=utf-8"
    gzipped = None
    if content_type.startswith(COMPRESSED_TYPES) and len(body) >= SMALLEST_WORTH_GZIP:
        # mtime=0: the same bytes on every start and in every worker.
        candidate = gzip.compress(body, compresslevel=9, mtime=0)
        if len(candidate) <= len(body) * GZIP_MAX_RATIO:
            gzipped = candidate
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    return StaticFile(body, gzipped, content_type, etag, cache_control)


class WebAssets:
    """The files of some folders, under fingerprinted names, and the pages that use them."""

    def __init__(self, folders: list[Path], pages: dict[str, Path]) -> None:
        self._sources = {path.name: path for folder in folders for path in _files(folder)}
        self._resolved: dict[str, tuple[str, bytes]] = {}
        self.assets: dict[str, StaticFile] = {}
        for name in sorted(self._sources):
            fingerprinted, body = self._resolve(name, ())
            self.assets[fingerprinted] = static_file(body, name, IMMUTABLE)
        self.pages = {
            page: static_file(self._rewritten(path.read_bytes()), path.name, REVALIDATE)
            for page, path in pages.items()
        }

    def url(self, name: str) -> str:
        """Where an asset is served today: `app.js` -> /explore/assets/app.<hex>.js."""
        return ASSET_PREFIX + self._resolve(name, ())[0]

    def _resolve(self, name: str, chain: tuple[str, ...]) -> tuple[str, bytes]:
        if name not in self._resolved:
            if name in chain:
                raise ValueError(f"assets refer to each other in a circle: {[*chain, name]}")
            body = self._sources[name].read_bytes()
            if _is_text(name):
                body = self._rewritten(body, (*chain, name))
            digest = hashlib.sha256(body).hexdigest()[:FINGERPRINT_HEX]
            stem, dot, suffix = name.partition(".")
            self._resolved[name] = (f"{stem}.{digest}{dot}{suffix}", body)
        return self._resolved[name]

    def _rewritten(self, body: bytes, chain: tuple[str, ...] = ()) -> bytes:
        """`body` with every reference to a known asset made to its fingerprinted name."""

        def replace(match: re.Match[bytes]) -> bytes:
            name = match["name"].decode()
            if name not in self._sources:
                raise ValueError(f"{chain[-1] if chain else 'a page'} refers to {name!r}")
            return match["prefix"] + self._resolve(name, chain)[0].encode()

        return REFERENCE.sub(replace, body)


# A reference to an asset: its URL in a page or style sheet, or a relative module import.
REFERENCE = re.compile(
    rb"(?<=[\"'(])(?P<prefix>" + re.escape(ASSET_PREFIX.encode()) + rb"|\./)"
    rb"(?P<name>[\w.-]+\.(?:js|css|png|svg|ico))(?=[\"')])"
)


def _files(folder: Path) -> list[Path]:
    """The servable files: LICENSE and VERSION (no suffix) stay in the source tree."""
    return [path for path in folder.iterdir() if path.is_file() and path.suffix]


def _is_text(name: str) -> bool:
    return name.endswith((".js", ".css", ".html", ".svg"))
