"""DecisionCache: verdicts by a digest of the credential, bounded and expiring.

Keys are SHA-256 digests, so the cache never holds a raw token or cookie. A confirmed identity
lives for the configured TTL and never past the token's own ``exp``; a definitive "no" from
Authorizer lives for the (shorter) negative TTL, so a client retrying a bad token cannot flood
Authorizer. "Cannot confirm" is never cached.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from authsvc.errors import AuthError
from authsvc.identity import Identity

Clock = Callable[[], float]
"""Epoch seconds (``time.time``): expiries are compared with the token's ``exp``."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Authorizer's definitive "no" for a credential; ``error`` is raised again on a hit."""

    error: type[AuthError]


Verdict = Identity | Rejection
Hit = tuple[Verdict, float]
"""A cached verdict and the seconds it stays fresh."""


def key_for(*parts: str) -> bytes:
    """A cache key for a credential and anything else the decision depends on.

    Parts are length-prefixed, so no two different part lists share a key.
    """
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


_AUTHORIZATION = b"authorization\x00"


def authorization_key(header: str) -> bytes:
    """The cache key of a bearer credential: a digest of the whole Authorization header.

    Keying on the raw header lets a hit skip parsing altogether; one token spelt two ways
    ("Bearer", "bearer") merely costs a second entry.
    """
    return hashlib.sha256(_AUTHORIZATION + header.encode("utf-8", "surrogatepass")).digest()


class CacheEvents(Protocol):
    """What the cache reports (``metrics.Metrics`` implements it)."""

    def cache_lookup(self, *, hit: bool) -> None: ...

    def cache_evicted(self) -> None: ...

    def cache_size(self, entries: int) -> None: ...


class _NoEvents:
    def cache_lookup(self, *, hit: bool) -> None:
        pass

    def cache_evicted(self) -> None:
        pass

    def cache_size(self, entries: int) -> None:
        pass


def _yield() -> None:
    time.sleep(0)  # lets other threads (greenlets, under gevent) run


class DecisionCache:
    """An LRU of ``key -> (expires_at, Verdict)``; thread-safe; a TTL of 0 disables that kind."""

    def __init__(
        self,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        max_entries: int,
        clock: Clock,
        events: CacheEvents | None = None,
    ) -> None:
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Verdict]] = OrderedDict()
        self._lock = threading.Lock()
        self._events: CacheEvents = events or _NoEvents()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Hit | None:
        """The cached verdict and how long it stays fresh, or None when absent or expired."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]
                entry = None
                self._events.cache_size(len(self._entries))
            if entry is not None:
                self._entries.move_to_end(key)
        self._events.cache_lookup(hit=entry is not None)
        if entry is None:
            return None
        expires_at, verdict = entry
        return verdict, expires_at - now

    def sweep(self, *, chunk: int = 1024, pause: Callable[[], None] = _yield) -> int:
        """Drop every expired entry; return how many went.

        Expired entries are otherwise dropped only when looked up again, so without this the
        entries gauge would count them, and their memory would wait for the size bound. Runs
        in chunks with ``pause()`` between them, so requests are served during a long sweep.
        """
        with self._lock:
            keys = list(self._entries)
        removed = 0
        for start in range(0, len(keys), chunk):
            now = self._clock()
            with self._lock:
                for key in keys[start : start + chunk]:
                    entry = self._entries.get(key)
                    if entry is not None and entry[0] <= now:
                        del self._entries[key]
                        removed += 1
            pause()
        if removed:
            self._events.cache_size(len(self._entries))
        return removed

    def drop_expired(self) -> None:
        """``sweep()`` as a housekeeping job."""
        self.sweep()

    def put(self, key: bytes, identity: Identity) -> Hit:
        """Keep ``identity`` for the TTL, cut to its own expiry; return it with its freshness."""
        fresh_for = self._ttl_s
        now = self._clock()
        if identity.expires_at is not None:
            fresh_for = min(fresh_for, identity.expires_at - now)
        self._store(key, now, fresh_for, identity)
        return identity, max(fresh_for, 0.0)

    def put_hit(self, key: bytes, hit: Hit) -> None:
        """Keep a verdict another cache already holds, for what is left of its life."""
        verdict, fresh_for = hit
        self._store(key, self._clock(), fresh_for, verdict)

    def put_rejection(self, key: bytes, error: type[AuthError]) -> Hit:
        """Remember Authorizer's definitive "no" for the negative TTL; return it."""
        rejection = Rejection(error)
        self._store(key, self._clock(), self._negative_ttl_s, rejection)
        return rejection, self._negative_ttl_s

    def _store(self, key: bytes, now: float, fresh_for: float, verdict: Verdict) -> None:
        if fresh_for <= 0:
            return
        evicted = 0
        with self._lock:
            self._entries[key] = (now + fresh_for, verdict)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
                evicted += 1
            size = len(self._entries)
        for _ in range(evicted):
            self._events.cache_evicted()
        self._events.cache_size(size)
