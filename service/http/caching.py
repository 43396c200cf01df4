"""HTTP caching of summaries: a strong ETag, conditional GET (304) and Cache-Control.

The ETag is the data version (the current load in data_loads) plus a hash of the exact
bytes sent, so it changes with the data and differs between the JSON and CSV forms of the
same summary; a 304 is only ever given for bytes the client already holds.
"""

from __future__ import annotations

import re
from hashlib import blake2b

from sanic import HTTPResponse


def entity_tag(data_version: str, payload: bytes) -> str:
    return f'"{data_version}-{blake2b(payload, digest_size=12).hexdigest()}"'


# A tag entity_tag made: the data version, a dash, the 24 hex digits of the body's hash.
OUR_ENTITY_TAG = re.compile(r'(?:W/)?"([^"-]+)-[0-9a-f]{24}"')


def tag_version(tag: str) -> str | None:
    """The data version an entity tag of this service's making names; None for any other."""
    ours = OUR_ENTITY_TAG.fullmatch(tag.strip())
    return ours.group(1) if ours else None


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: weak comparison against each listed tag, or `*`."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def cache_policy(*, max_age_s: int, private: bool, vary: str) -> dict[str, str]:
    """Shared caches may keep a public answer; with API keys on, only the client may."""
    scope = "private" if private else "public"
    return {"Cache-Control": f"{scope}, max-age={max_age_s}", "Vary": vary}


def not_modified(headers: dict[str, str]) -> HTTPResponse:
    return HTTPResponse(status=304, headers=headers)
