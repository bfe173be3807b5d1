"""Metrics: the counters, histograms and gauges authsvc exposes at /metrics.

Every label value comes from a fixed set (outcome and reason names, Authorizer operations,
cache events): never a path, a user, a role or a token, so the series count stays flat however
many users and routes there are. Under gunicorn the values live in prometheus-client's
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, managed by ``gunicorn_conf``), so the counts
of every worker add up.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from authsvc import __version__

OUTCOME_REASONS = {
    "allow": ("",),
    "deny": ("missing_credential", "invalid_credential", "missing_role", "invalid_request"),
    "error": ("authorizer_unavailable",),
}
AUTHORIZER_OPERATIONS = ("validate_jwt_token", "validate_session", "health", "keys")
AUTHORIZER_OUTCOMES = ("confirmed", "rejected", "unavailable", "rate_limited")
# Cached answers take tens of microseconds; Authorizer round trips milliseconds to seconds.
VERIFY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
AUTHORIZER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


_OUTCOME_OF = {
    reason or outcome: outcome for outcome, rs in OUTCOME_REASONS.items() for reason in rs
}


def outcome_of(reason: str) -> str:
    """ "allow", "deny" or "error" for a decision's reason ("allow" for an allow)."""
    return _OUTCOME_OF.get(reason, "error")


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """authsvc's metrics on ``registry``; label children are bound once, off the hot path."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        decisions = Counter(
            "authsvc_decisions",
            "Decisions made by /verify, by outcome (allow, deny, error) and reason class.",
            ["outcome", "reason"],
            registry=registry,
        )
        self.decisions = {
            reason or outcome: decisions.labels(outcome, reason)
            for outcome, reasons in OUTCOME_REASONS.items()
            for reason in reasons
        }
        self.verify_seconds = Histogram(
            "authsvc_verify_duration_seconds",
            "Time to answer /verify, from the request reaching authsvc to the decision.",
            buckets=VERIFY_BUCKETS,
            registry=registry,
        )
        authorizer_requests = Counter(
            "authsvc_authorizer_requests",
            "Calls to Authorizer by operation and outcome (confirmed, rejected, unavailable, "
            "rate_limited).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.authorizer_requests = {
            (operation, outcome): authorizer_requests.labels(operation, outcome)
            for operation in AUTHORIZER_OPERATIONS
            for outcome in AUTHORIZER_OUTCOMES
        }
        throttled = Counter(
            "authsvc_authorizer_throttled",
            "429 answers from Authorizer, by operation: the ones authsvc waited out (and then "
            "got an answer) as well as those it gave up on (outcome rate_limited).",
            ["operation"],
            registry=registry,
        )
        self.authorizer_throttled_answers = {
            operation: throttled.labels(operation) for operation in AUTHORIZER_OPERATIONS
        }
        authorizer_seconds = Histogram(
            "authsvc_authorizer_request_duration_seconds",
            "Duration of calls to Authorizer, by operation (retries after a 429 included).",
            ["operation"],
            buckets=AUTHORIZER_BUCKETS,
            registry=registry,
        )
        self.authorizer_seconds = {
            operation: authorizer_seconds.labels(operation) for operation in AUTHORIZER_OPERATIONS
        }
        self.circuit_open = Gauge(
            "authsvc_authorizer_circuit_open",
            "1 while the circuit breaker of any live worker holds Authorizer calls back.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.circuit_opened = Counter(
            "authsvc_authorizer_circuit_opened",
            "Times a worker's circuit breaker opened after repeated Authorizer failures.",
            registry=registry,
        )
        cache_events = Counter(
            "authsvc_cache_events",
            "Decision cache lookups and removals: hit, miss, eviction (bound reached).",
            ["event"],
            registry=registry,
        )
        self.cache_hits = cache_events.labels("hit")
        self.cache_misses = cache_events.labels("miss")
        self.cache_evictions = cache_events.labels("eviction")
        shared_events = Counter(
            "authsvc_shared_cache_events",
            "Shared (Redis) cache lookups and failures: hit, miss, unreadable, error.",
            ["event"],
            registry=registry,
        )
        self.shared_cache_events = {
            event: shared_events.labels(event) for event in ("hit", "miss", "unreadable", "error")
        }
        self.cache_entries = Gauge(
            "authsvc_cache_entries",
            "Credentials currently in the decision caches (summed over live workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        Gauge(
            "authsvc_build_info",
            "authsvc's build: 1, labelled with the versions in use.",
            ["version", "python", "falcon", "gunicorn"],
            registry=registry,
            multiprocess_mode="max",
        ).labels(
            __version__,
            platform.python_version(),
            _package_version("falcon"),
            _package_version("gunicorn"),
        ).set(1)

    # -- hooks called by the cache, the Authorizer client and the resources ------------------

    def cache_lookup(self, *, hit: bool) -> None:
        (self.cache_hits if hit else self.cache_misses).inc()

    def cache_evicted(self) -> None:
        self.cache_evictions.inc()

    def cache_size(self, entries: int) -> None:
        self.cache_entries.set(entries)

    def authorizer_call(self, operation: str, outcome: str, seconds: float) -> None:
        self.authorizer_requests[operation, outcome].inc()
        self.authorizer_seconds[operation].observe(seconds)

    def authorizer_throttled(self, operation: str) -> None:
        self.authorizer_throttled_answers[operation].inc()

    def shared_cache_event(self, event: str) -> None:
        self.shared_cache_events[event].inc()

    def circuit_changed(self, *, is_open: bool) -> None:
        self.circuit_open.set(1 if is_open else 0)
        if is_open:
            self.circuit_opened.inc()

    def decision(self, reason: str, seconds: float) -> None:
        """Count one /verify answer: ``reason`` is "allow" or an AuthError reason."""
        self.decisions[reason].inc()
        self.verify_seconds.observe(seconds)


def exposition(registry: CollectorRegistry, multiprocess_dir: str | None) -> bytes:
    """The Prometheus text for /metrics: under gunicorn, every worker's values added up
    (read from ``multiprocess_dir``); otherwise ``registry``'s own."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, multiprocess_dir)  # type: ignore[no-untyped-call]  # unannotated upstream
    return generate_latest(registry)
