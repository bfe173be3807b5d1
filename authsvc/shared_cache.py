"""SharedCache: decisions shared by every worker and replica through Redis (optional).

It sits behind each worker's own DecisionCache: a local miss asks Redis before Authorizer, and
whatever Authorizer answers is written to both, so one credential costs one Authorizer call per
TTL for the whole fleet. Keys are the same SHA-256 digests as the local cache (hex, under a
versioned prefix), never a credential; values are the minimal claims a decision and the identity
headers need, as compact JSON, with Redis expiring them when the local entry would expire.

Each value records the expiry it was written with, so its age is known by Redis's clock
alone (that expiry minus Redis's PTTL), and a reader serves it only within ITS OWN TTLs
(``AUTHSVC_CACHE_TTL``, ``AUTHSVC_NEGATIVE_CACHE_TTL``) of the decision and never past the
token's ``exp``: a deployment with a shorter TTL (or 0) sharing the Redis, or one whose TTL was
just lowered, is never served an older decision than it allows.

Redis is an optimisation, never an authority it cannot be: a Redis that is down, slow (every
exchange has a deadline, however the bytes trickle in) or answering garbage is a miss, counted
and logged (at most once per 10 s), and it is left alone for ``BACKOFF_S`` after a failure so
requests do not each wait on a timeout. Nothing read from Redis can turn a failure into an
allow: an unreadable value is a miss.
"""

from __future__ import annotations

import concurrent.futures
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

PREFIX = "authsvc:v2:"  # v2: values carry the expiry they were written with
MAX_VALUE_BYTES = 4096
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
        ttl_s: float = float("inf"),
        negative_ttl_s: float = float("inf"),
        deadline_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        events: SharedCacheEvents | None = None,
    ) -> None:
        """``namespace`` names whose decisions these are (Authorizer's issuer, the client id,
        the verify mode): deployments sharing a Redis never answer for each other, and a
        ``jwks`` replica's allows (blind to logouts) never serve a ``remote`` one. ``ttl_s``
        and ``negative_ttl_s`` bound how old a decision this reader accepts; ``deadline_s``
        bounds a whole exchange with Redis."""
        self._redis = client
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._deadline_s = deadline_s
        # Exchanges run here so the caller can stop waiting at the deadline (redis-py's
        # timeouts bound each read, not a trickling answer). Threads are greenlets under gevent.
        self._exchanges = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="shared-cache"
        )
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
        return cls(client, deadline_s=timeout_s, **kwargs)

    def redis_key(self, key: bytes) -> str:
        """The Redis key of a decision key: a digest of it within this namespace."""
        return PREFIX + hashlib.sha256(self._namespace + key).hexdigest()

    def get(self, key: bytes) -> Hit | None:
        if self._is_resting():
            return None
        try:
            raw, remaining_ms = self._within_deadline(self._read, self.redis_key(key))
        except Exception as exc:  # whatever Redis (or redis-py) does: a miss
            self._failed(exc)
            return None
        if raw is None:
            self._events.shared_cache_event("miss")
            return None
        decoded = _decode(raw)
        if decoded is None or not isinstance(remaining_ms, int) or remaining_ms <= 0:
            self._events.shared_cache_event("unreadable")
            return None
        verdict, written_ms = decoded
        # The decision's age by Redis's clock alone (the TTL it was written with, minus what
        # is left), so no replica's clock matters; then this reader's own TTL from that
        # moment, and never past the token's exp.
        age_s = max(written_ms - remaining_ms, 0) / 1000
        ttl_s = self._ttl_s if isinstance(verdict, Identity) else self._negative_ttl_s
        fresh_for = min(ttl_s - age_s, remaining_ms / 1000)
        if isinstance(verdict, Identity) and verdict.expires_at is not None:
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
        value = _encode(verdict, ttl_ms)
        try:
            self._within_deadline(self._redis.set, self.redis_key(key), value, px=ttl_ms)
        except Exception as exc:  # whatever Redis (or redis-py) does: skipped
            self._failed(exc)

    def _read(self, name: str) -> tuple[object, object]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(name)
        pipe.pttl(name)
        raw, remaining_ms = pipe.execute()
        return raw, remaining_ms

    def _within_deadline(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        exchange = self._exchanges.submit(call, *args, **kwargs)
        try:
            return exchange.result(timeout=self._deadline_s)
        finally:
            exchange.cancel()

    def _is_resting(self) -> bool:
        return self._monotonic() < self._resting_until

    def _failed(self, exc: Exception) -> None:
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


def _encode(verdict: Identity | Rejection, ttl_ms: int) -> str:
    """``ttl_ms``: the expiry the value is written with, so readers can tell its age."""
    if isinstance(verdict, Rejection):
        value = {"rejected": verdict.error.reason, "px": ttl_ms}
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(
        {
            "px": ttl_ms,
            "sub": verdict.subject,
            "email": verdict.email,
            "roles": list(verdict.roles),
            "valid_roles": verdict.has_valid_roles,
            "type": verdict.token_type,
            "exp": verdict.expires_at,
        },
        separators=(",", ":"),
    )


def _decode(raw: object) -> tuple[Identity | Rejection, int] | None:
    """The verdict and the expiry it was written with (ms), or None for anything not exactly
    what ``_encode`` writes (a reply of another type, oversized or too deeply nested JSON)."""
    if not isinstance(raw, bytes) or len(raw) > MAX_VALUE_BYTES:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    written_ms = value.get("px") if isinstance(value, dict) else None
    if not isinstance(written_ms, int) or isinstance(written_ms, bool) or written_ms <= 0:
        return None
    verdict = _verdict(value)
    return None if verdict is None else (verdict, written_ms)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _verdict(value: dict[str, Any]) -> Identity | Rejection | None:
    if "rejected" in value:
        reason = value["rejected"]
        error = _REJECTIONS.get(reason) if isinstance(reason, str) else None
        return Rejection(error) if error is not None else None
    subject, email, roles = value.get("sub"), value.get("email"), value.get("roles")
    valid_roles, token_type, exp = value.get("valid_roles"), value.get("type"), value.get("exp")
    if not (isinstance(subject, str) and subject and isinstance(email, str)):
        return None
    if not (isinstance(roles, list) and all(isinstance(r, str) and r for r in roles)):
        return None
    if not (isinstance(valid_roles, bool) and isinstance(token_type, str)):
        return None
    if exp is not None and not _is_number(exp):
        return None
    return Identity(
        subject=subject,
        email=email,
        roles=tuple(roles),
        has_valid_roles=valid_roles,
        token_type=token_type,
        expires_at=None if exp is None else float(exp),
    )
