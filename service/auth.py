"""API keys: off unless API_KEYS lists SHA-256 digests of the accepted keys.

Only digests are configured, so neither the environment nor a log ever holds a key. A
request's key is hashed and compared with each digest in constant time; the first 8 hex
digits of the matching digest are its key id, safe to log.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from .problems import Problem

UNAUTHORIZED = "/problems/unauthorized"
REALM = 'Bearer realm="reviews-api"'


@dataclass(frozen=True)
class ApiKeys:
    digests: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def key_id(self, authorization: str | None) -> str:
        """The caller's key id, or a 401 Problem saying what is missing or wrong."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Problem(
                401,
                "this route needs an API key: send Authorization: Bearer <key>",
                problem_type=UNAUTHORIZED,
                headers={"WWW-Authenticate": REALM},
            )
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        for known in self.digests:
            if hmac.compare_digest(digest, known):
                return known[:8]
        raise Problem(
            401,
            "the API key is not valid",
            problem_type=UNAUTHORIZED,
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
