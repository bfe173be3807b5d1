"""Readiness: is Authorizer answering? Judged from recent answers, else a cached probe.

``/readyz`` is polled by every load balancer and orchestrator; it must not cost one Authorizer
call per poll. A real answer (yes or definitive no) within ``FRESH_S`` is proof enough; without
one, Authorizer's health endpoint is asked at most once per ``PROBE_EVERY_S``. While the
circuit breaker holds calls back, the answer is "not ready" whatever the last answer was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

DRAIN_MARKER_ENV = "AUTHSVC_DRAIN_MARKER"
"""Set by gunicorn_conf for the workers: the file whose existence means "shutting down"."""
FRESH_S = 30.0
PROBE_EVERY_S = 5.0


class Readiness:
    """``problem()`` is None when ready, else a short reason for the 503."""

    def __init__(
        self,
        probe: Callable[[], bool],
        last_answer_at: Callable[[], float | None],
        monotonic: Callable[[], float],
        *,
        is_held_back: Callable[[], bool] = lambda: False,
        is_draining: Callable[[], bool] = lambda: False,
    ) -> None:
        """``is_held_back``: whether the circuit breaker is holding Authorizer calls back;
        ``is_draining``: whether the process is shutting down."""
        self._is_held_back = is_held_back
        self._is_draining = is_draining
        self._probe = probe
        self._last_answer_at = last_answer_at
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._probed_at: float | None = None
        self._probe_ok = False

    def problem(self) -> str | None:
        if self._is_draining():
            return "shutting down"
        if self._is_held_back():
            return "authorizer failing: circuit open"
        now = self._monotonic()
        last = self._last_answer_at()
        if last is not None and now - last < FRESH_S:
            return None
        with self._lock:
            if self._probed_at is None or now - self._probed_at >= PROBE_EVERY_S:
                self._probed_at = now
                self._probe_ok = self._probe()
            ok = self._probe_ok
        return None if ok else "authorizer unreachable"
