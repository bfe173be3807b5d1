"""CircuitBreaker: stop calling an Authorizer that keeps failing, then probe it back.

After ``failures`` consecutive failures to get an answer (timeouts, refused connections, 5xx,
unreadable answers, 429s not waited out), the circuit opens: confirmations fail at once (the
caller answers 503) for ``open_s``, doubled after each failed trial up to ``max_open_s``. Then
one call is let through as a trial: an answer (a yes or a definitive no) closes the circuit,
a failure opens it again for longer. Cached decisions never reach the breaker, so they keep
serving until their own expiry. One breaker per worker process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol


class BreakerEvents(Protocol):
    """What the breaker reports (``metrics.Metrics`` implements it)."""

    def circuit_changed(self, *, is_open: bool) -> None: ...


class _NoEvents:
    def circuit_changed(self, *, is_open: bool) -> None:
        pass


class LoggedEvents:
    """Passes the breaker's events on, with one log line each time the circuit opens or closes
    (opening is rare and needs an operator's eye; a closed-to-closed report says nothing)."""

    def __init__(self, events: BreakerEvents, failures: int, open_s: float) -> None:
        self._events = events
        self._failures = failures
        self._open_s = open_s
        self._is_open = False
        self._log = logging.getLogger(__name__)

    def circuit_changed(self, *, is_open: bool) -> None:
        self._events.circuit_changed(is_open=is_open)
        if is_open and not self._is_open:
            self._log.warning(
                "circuit open: %d Authorizer failures in a row; answering 503 without asking it "
                "for %.1f s or more, then one trial call",
                self._failures,
                self._open_s,
            )
        elif self._is_open and not is_open:
            self._log.info("circuit closed: Authorizer answered the trial call")
        self._is_open = is_open


class CircuitBreaker:
    """Thread-safe; ``failures=0`` disables it (every call goes through)."""

    def __init__(
        self,
        *,
        failures: int,
        open_s: float,
        max_open_s: float,
        monotonic: Callable[[], float],
        events: BreakerEvents | None = None,
    ) -> None:
        self._threshold = failures
        self._base_open_s = open_s
        self._max_open_s = max(max_open_s, open_s)
        self._monotonic = monotonic
        self._events: BreakerEvents = events or _NoEvents()
        self._lock = threading.Lock()
        self._failures = 0
        self._open_s = open_s
        self._open_until: float | None = None  # None: closed
        self._trial_running = False

    def allow(self) -> float | None:
        """None when a call may go ahead; else the seconds until the next trial (> 0).

        While open, the first caller after the open interval becomes the trial; everyone
        else is refused until the trial ends.
        """
        if self._open_until is None:  # closed: the common case, no lock
            return None
        now = self._monotonic()
        with self._lock:
            if self._open_until is None:
                return None
            if now >= self._open_until and not self._trial_running:
                self._trial_running = True
                return None
            return max(self._open_until - now, 0.0) or self._base_open_s

    def succeeded(self) -> None:
        """Authorizer answered (a yes or a definitive no)."""
        if self._open_until is None and self._failures == 0:
            return
        with self._lock:
            was_open = self._open_until is not None
            self._failures = 0
            self._open_s = self._base_open_s
            self._open_until = None
            self._trial_running = False
        if was_open:
            self._events.circuit_changed(is_open=False)

    def failed(self) -> None:
        """No usable answer from Authorizer."""
        if self._threshold <= 0:
            return
        now = self._monotonic()
        with self._lock:
            was_open = self._open_until is not None
            if self._trial_running:  # the trial failed: stay open, for longer
                self._trial_running = False
                self._open_s = min(self._open_s * 2, self._max_open_s)
                self._open_until = now + self._open_s
                return
            self._failures += 1
            if was_open or self._failures < self._threshold:
                return
            self._open_until = now + self._open_s
        self._events.circuit_changed(is_open=True)

    @property
    def is_open(self) -> bool:
        return self._open_until is not None
