"""DecisionCache: confirmed identities by a digest of the credential, bounded and expiring.

Keys are SHA-256 digests, so the cache never holds a raw token or cookie. An entry lives for
the configured TTL and never past the token's own ``exp``. Outages are never cached.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from authsvc.identity import Identity

Clock = Callable[[], float]
"""Epoch seconds (``time.time``): expiries are compared with the token's ``exp``."""


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


class DecisionCache:
    """An LRU of ``key -> (expires_at, Identity)``; thread-safe; ``ttl_s == 0`` disables it."""

    def __init__(self, *, ttl_s: float, max_entries: int, clock: Clock) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Identity]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Identity | None:
        """The cached identity, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: bytes, identity: Identity) -> None:
        """Keep ``identity`` for the TTL, cut to its own expiry; drop the least recently used."""
        if self._ttl_s <= 0:
            return
        expires_at = self._clock() + self._ttl_s
        if identity.expires_at is not None:
            expires_at = min(expires_at, identity.expires_at)
        with self._lock:
            if expires_at <= self._clock():
                return
            self._entries[key] = (expires_at, identity)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
