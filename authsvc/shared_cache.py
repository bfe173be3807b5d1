"""SharedCache: decisions shared by every worker and replica through Redis (optional).

It sits behind each worker's own DecisionCache: a local miss asks Redis before Authorizer, and
whatever Authorizer answers is written to both, so one credential costs one Authorizer call per
TTL for the whole fleet. Keys are the same SHA-256 digests as the local cache (hex, under a
versioned prefix), never a credential; values are the minimal claims a decision and the identity
headers need, as compact JSON, with Redis expiring them when the local entry would expire.

Redis is an optimisation, never an authority it cannot be: a Redis that is down, slow (short
socket timeouts) or answering garbage is a miss, counted and logged (at most once per 10 s),
and it is left alone for ``BACKOFF_S`` after a failure so requests do not each wait on a
timeout. Nothing read from Redis can turn a failure into an allow: an unreadable value is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from authsvc.cache import Hit, Rejection
from authsvc.errors import AccessDenied, AuthError, InvalidCredentials
from authsvc.identity import Identity

log = logging.getLogger(__name__)

PREFIX = "authsvc:v1:"
BACKOFF_S = 5.0
WARN_EVERY_S = 10.0
_REJECTIONS: dict[str, type[AuthError]] = {
    InvalidCredentials.reason: InvalidCredentials,
    AccessDenied.reason: AccessDenied,
}


class SharedCacheEvents(Protocol):
    """What the shared cache reports (``metrics.Metrics`` implements it)."""

    def shared_cache_event(self, event: str) -> None: ...


class _NoEvents:
    def shared_cache_event(self, event: str) -> None:
        pass


class SharedCache:
    """Get and put verdicts in Redis; every failure is a miss."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        events: SharedCacheEvents | None = None,
    ) -> None:
        """``namespace`` names whose decisions these are (Authorizer's issuer, the client id,
        the verify mode): deployments sharing a Redis never answer for each other, and a
        ``jwks`` replica's allows (blind to logouts) never serve a ``remote`` one."""
        self._redis = client
        self._namespace = hashlib.sha256(namespace.encode("utf-8")).digest()
        self._monotonic = monotonic
        self._clock = clock
        self._events: SharedCacheEvents = events or _NoEvents()
        self._resting_until = float("-inf")
        self._warned_at = float("-inf")

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float, **kwargs: Any) -> SharedCache:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        return cls(client, **kwargs)

    def redis_key(self, key: bytes) -> str:
        """The Redis key of a decision key: a digest of it within this namespace."""
        return PREFIX + hashlib.sha256(self._namespace + key).hexdigest()

    def get(self, key: bytes) -> Hit | None:
        if self._is_resting():
            return None
        name = self.redis_key(key)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(name)
            pipe.pttl(name)
            raw, ttl_ms = pipe.execute()
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        verdict = _decode(raw) if raw is not None else None
        if verdict is None or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            self._events.shared_cache_event("miss" if raw is None else "unreadable")
            return None
        fresh_for = ttl_ms / 1000
        if isinstance(verdict, Identity) and verdict.expires_at is not None:
            # Never past the token's own exp, whatever Redis's TTL says (another replica's
            # clock, or a value written by hand).
            fresh_for = min(fresh_for, verdict.expires_at - self._clock())
            if fresh_for <= 0:
                self._events.shared_cache_event("miss")
                return None
        self._events.shared_cache_event("hit")
        return verdict, fresh_for

    def put(self, key: bytes, hit: Hit) -> None:
        verdict, fresh_for = hit
        ttl_ms = int(fresh_for * 1000)
        if ttl_ms <= 0 or self._is_resting():
            return
        try:
            self._redis.set(self.redis_key(key), _encode(verdict), px=ttl_ms)
        except redis.RedisError as exc:
            self._failed(exc)

    def _is_resting(self) -> bool:
        return self._monotonic() < self._resting_until

    def _failed(self, exc: redis.RedisError) -> None:
        now = self._monotonic()
        self._resting_until = now + BACKOFF_S
        self._events.shared_cache_event("error")
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            # The message names the error class only: a Redis URL may hold a password.
            log.warning(
                "shared cache (Redis) unavailable: %s; using the per-worker cache for %s s",
                type(exc).__name__,
                BACKOFF_S,
            )


def _encode(verdict: Identity | Rejection) -> str:
    if isinstance(verdict, Rejection):
        return json.dumps({"rejected": verdict.error.reason}, separators=(",", ":"))
    return json.dumps(
        {
            "sub": verdict.subject,
            "email": verdict.email,
            "roles": list(verdict.roles),
            "valid_roles": verdict.has_valid_roles,
            "type": verdict.token_type,
            "exp": verdict.expires_at,
        },
        separators=(",", ":"),
    )


def _decode(raw: bytes) -> Identity | Rejection | None:
    """The verdict, or None for anything not exactly what ``_encode`` writes."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    if "rejected" in value:
        error = _REJECTIONS.get(value["rejected"])
        return Rejection(error) if error is not None else None
    subject, email, roles = value.get("sub"), value.get("email"), value.get("roles")
    valid_roles, token_type, exp = value.get("valid_roles"), value.get("type"), value.get("exp")
    if not (isinstance(subject, str) and subject and isinstance(email, str)):
        return None
    if not (isinstance(roles, list) and all(isinstance(r, str) and r for r in roles)):
        return None
    if not (isinstance(valid_roles, bool) and isinstance(token_type, str)):
        return None
    if exp is not None and not (isinstance(exp, int | float) and not isinstance(exp, bool)):
        return None
    return Identity(
        subject=subject,
        email=email,
        roles=tuple(roles),
        has_valid_roles=valid_roles,
        token_type=token_type,
        expires_at=None if exp is None else float(exp),
    )
