"""API keys: off unless API_KEYS lists SHA-256 digests of the accepted keys.

Only digests are configured, so neither the environment nor a log ever holds a key. A
request's key is hashed and compared with each digest in constant time; the first 8 hex
digits of the matching digest are its key id, safe to log.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from service.http.problems import Problem

UNAUTHORIZED = "/problems/unauthorized"
REALM = 'Bearer realm="reviews-api"'


@dataclass(frozen=True)
class ApiKeys:
    digests: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def key_id(self, authorization: list[str]) -> str:
        """The caller's key id from its Authorization header(s), or a Problem: 400 for more
        than one header (RFC 9110 allows one), 401 for a missing or wrong key."""
        if len(authorization) > 1:
            raise Problem(400, "more than one Authorization header")
        scheme, _, key = (authorization[0] if authorization else "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Problem(
                401,
                "this route needs an API key: send Authorization: Bearer <key>",
                problem_type=UNAUTHORIZED,
                headers={"WWW-Authenticate": REALM},
            )
        # The key's bytes as sent: Sanic decodes the head as UTF-8 with surrogateescape, so
        # this gives back any byte that is not UTF-8 (no such key exists: a 401, not a 500).
        digest = hashlib.sha256(key.strip().encode("utf-8", "surrogateescape")).hexdigest()
        for known in self.digests:
            if hmac.compare_digest(digest, known):
                return known[:8]
        raise Problem(
            401,
            "the API key is not valid",
            problem_type=UNAUTHORIZED,
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
