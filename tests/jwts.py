"""JWTs for unit tests: the right shape with any claims; no Authorizer checks them here."""

from __future__ import annotations

import time

import jwt

UNIT_TEST_KEY = "unit-test-key-that-is-long-enough-for-hs256"


def make_jwt(**claims: object) -> str:
    """A well-formed HS256 JWT with realistic defaults overridden by ``claims``."""
    now = int(time.time())
    body: dict[str, object] = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 1800,
        "token_type": "access_token",
        "roles": ["user"],
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, UNIT_TEST_KEY)
