"""Server-side state of the fake: users, the session store, login lockout and the IP rate limiter.

Each class guards itself with a lock because ThreadingHTTPServer runs one thread per connection.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

Clock = Callable[[], float]
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW_S = 15 * 60


@dataclass(frozen=True)
class User:
    """A stored user; `roles` is every role the user holds (what `allowed_roles` lists)."""

    id: str
    email: str
    password: str
    roles: tuple[str, ...]
    created_at: int
    updated_at: int
    has_skipped_mfa_setup_at: int | None = None


class UserDirectory:
    """Users by lower-cased email, as Authorizer lower-cases the login email."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_email: dict[str, User] = {}

    def add(self, email: str, password: str, roles: Sequence[str]) -> User:
        now = int(self._clock())
        user = User(str(uuid.uuid4()), email.lower(), password, tuple(roles), now, now)
        with self._lock:
            self._by_email[user.email] = user
        return user

    def by_email(self, email: str) -> User | None:
        with self._lock:
            return self._by_email.get(email.lower())

    def by_id(self, user_id: str) -> User | None:
        with self._lock:
            return next((u for u in self._by_email.values() if u.id == user_id), None)

    def mark_mfa_skipped(self, user_id: str) -> None:
        with self._lock:
            for email, user in self._by_email.items():
                if user.id == user_id:
                    self._by_email[email] = replace(
                        user, has_skipped_mfa_setup_at=int(self._clock())
                    )


def store_value(credential: str, *, hashed: bool) -> str:
    """What the store keeps: `sha256:<hex>` in 2.4, the raw credential before it."""
    if not hashed:
        return credential
    return "sha256:" + hashlib.sha256(credential.encode("utf-8")).hexdigest()


class SessionStore:
    """The memory store: `<login_method>:<sub>` -> {`<kind>_<nonce>`: (value, expires_at)}."""

    def __init__(self, *, hashed: bool, clock: Clock) -> None:
        self._hashed = hashed
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, tuple[str, float]]] = {}

    def put(self, key: str, name: str, credential: str, expires_at: float) -> None:
        value = store_value(credential, hashed=self._hashed)
        with self._lock:
            self._entries.setdefault(key, {})[name] = (value, expires_at)

    def _live(self, key: str, name: str) -> str | None:
        with self._lock:
            entry = self._entries.get(key, {}).get(name)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def has(self, key: str, name: str) -> bool:
        """Presence only: validate_jwt_token never compares the stored digest."""
        return self._live(key, name) is not None

    def matches(self, key: str, name: str, credential: str) -> bool:
        """Presence plus digest: what the browser-session and Bearer checks do."""
        stored = self._live(key, name)
        return stored is not None and stored == store_value(credential, hashed=self._hashed)

    def delete_nonce(self, key: str, nonce: str) -> None:
        with self._lock:
            entries = self._entries.get(key, {})
            for kind in ("session_token", "access_token", "refresh_token"):
                entries.pop(f"{kind}_{nonce}", None)

    def delete_user(self, user_id: str) -> int:
        """Admin revoke: drop every entry of the user, whatever the login method."""
        with self._lock:
            keys = [k for k in self._entries if k == user_id or k.endswith(f":{user_id}")]
            return sum(len(self._entries.pop(k)) for k in keys)


class LoginThrottle:
    """Account lockout: 5 wrong passwords within a sliding 15 minutes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, email: str) -> deque[float]:
        failures = self._failures.setdefault(email.lower(), deque())
        while failures and failures[0] <= self._clock() - LOCKOUT_WINDOW_S:
            failures.popleft()
        return failures

    def is_locked(self, email: str) -> bool:
        with self._lock:
            return len(self._recent(email)) >= LOCKOUT_FAILURES

    def record_failure(self, email: str) -> None:
        with self._lock:
            self._recent(email).append(self._clock())

    def reset(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email.lower(), None)


class RateLimiter:
    """golang.org/x/time/rate per peer IP: a bucket of `burst` tokens refilled at `rps`."""

    def __init__(self, rps: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rps = rps
        self._burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def configure(self, rps: float, burst: int) -> None:
        """New limits start from full buckets; rps 0 turns the limiter off."""
        with self._lock:
            self._rps, self._burst = rps, burst
            self._buckets.clear()

    @property
    def is_enabled(self) -> bool:
        return self._rps > 0

    def allow(self, key: str) -> bool:
        with self._lock:
            if self._rps <= 0:
                return True
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - last) * self._rps)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
