"""SingleFlight: concurrent misses for the same key in one process make one Authorizer call.

The first caller (the leader) runs the call; the others wait for its result, up to a bound, and
share it, answer or error alike. A follower that waits too long gets ``AuthorizerUnavailable``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from authsvc.errors import AuthError, AuthorizerUnavailable

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: type[AuthError] | None = None


class SingleFlight(Generic[T]):
    """Deduplicates concurrent calls by key; ``wait_s`` bounds how long a follower waits."""

    def __init__(self, wait_s: float) -> None:
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._flights: dict[bytes, _Flight[T]] = {}

    def run(self, key: bytes, call: Callable[[], T]) -> T:
        """``call()``'s result, computed once for all concurrent callers with this key."""
        with self._lock:
            flight = self._flights.get(key)
            is_leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not is_leader:
            return self._follow(flight)
        try:
            flight.result = call()
            return flight.result
        except AuthError as exc:
            flight.error = type(exc)
            raise
        except BaseException:
            flight.error = AuthorizerUnavailable
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _follow(self, flight: _Flight[T]) -> T:
        if not flight.done.wait(self._wait_s):
            raise AuthorizerUnavailable("gave up waiting for a concurrent confirmation")
        if flight.error is not None:
            raise flight.error("shared outcome of a concurrent confirmation")
        if flight.result is None:  # the leader sets one or the other before `done`
            raise AuthorizerUnavailable("concurrent confirmation ended without an answer")
        return flight.result
