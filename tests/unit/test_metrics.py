"""Metrics as /verify, the cache and Authorizer calls drive them (one process, own registry)."""

from __future__ import annotations

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from authsvc.app import create_app
from authsvc.readiness import Readiness
from authsvc.settings import Settings
from tests.jwts import make_jwt
from tests.unit.test_verify import ADMIN, REVOKED, USER, StubAuthorizer


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def stub() -> StubAuthorizer:
    return StubAuthorizer()


@pytest.fixture
def client(stub: StubAuthorizer, registry: CollectorRegistry) -> falcon.testing.TestClient:
    settings = Settings.from_environ({"AUTHORIZER_URL": "http://authorizer.test"})
    return falcon.testing.TestClient(create_app(settings, authorizer=stub, registry=registry))


def decisions(registry: CollectorRegistry, outcome: str, reason: str) -> float:
    value = registry.get_sample_value(
        "authsvc_decisions_total", {"outcome": outcome, "reason": reason}
    )
    return value or 0.0


def series_count(registry: CollectorRegistry) -> int:
    return sum(len(metric.samples) for metric in registry.collect())


def test_every_decision_is_counted_by_outcome_and_reason(
    client: falcon.testing.TestClient, registry: CollectorRegistry
) -> None:
    for _ in range(3):
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}"})
    client.simulate_get("/verify")
    client.simulate_get("/verify", headers={"Authorization": f"Bearer {REVOKED}"})
    client.simulate_get("/verify?roles=admin", headers={"Authorization": f"Bearer {USER}"})
    client.simulate_get("/verify?role=admin", headers={"Authorization": f"Bearer {USER}"})
    assert decisions(registry, "allow", "") == 3
    assert decisions(registry, "deny", "missing_credential") == 1
    assert decisions(registry, "deny", "invalid_credential") == 1
    assert decisions(registry, "deny", "missing_role") == 1
    assert decisions(registry, "deny", "invalid_request") == 1
    assert registry.get_sample_value("authsvc_verify_duration_seconds_count") == 7


def test_unavailable_is_counted_as_error(
    client: falcon.testing.TestClient, registry: CollectorRegistry, stub: StubAuthorizer
) -> None:
    stub.down = True
    client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}"})
    assert decisions(registry, "error", "authorizer_unavailable") == 1


def test_cache_hits_misses_and_entries_are_counted(
    client: falcon.testing.TestClient, registry: CollectorRegistry
) -> None:
    for _ in range(4):
        client.simulate_get("/verify", headers={"Authorization": f"Bearer {ADMIN}"})
    assert registry.get_sample_value("authsvc_cache_events_total", {"event": "hit"}) == 3
    # Only the first request misses; Authorizer was asked once and the entry serves the rest.
    assert registry.get_sample_value("authsvc_cache_events_total", {"event": "miss"}) == 1
    assert registry.get_sample_value("authsvc_cache_entries") == 1


def test_health_probes_are_not_decisions(
    client: falcon.testing.TestClient, registry: CollectorRegistry
) -> None:
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/readyz").status_code == 200
    assert client.simulate_get("/metrics").status_code == 200
    assert registry.get_sample_value("authsvc_verify_duration_seconds_count") == 0


def test_metrics_endpoint_speaks_prometheus_text(client: falcon.testing.TestClient) -> None:
    client.simulate_get("/verify")
    result = client.simulate_get("/metrics")
    assert result.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'authsvc_decisions_total{outcome="deny",reason="missing_credential"} 1.0' in result.text
    assert "# HELP authsvc_verify_duration_seconds" in result.text
    assert 'authsvc_build_info{falcon="' in result.text


def test_series_stay_flat_under_many_users_and_paths(
    client: falcon.testing.TestClient, registry: CollectorRegistry, stub: StubAuthorizer
) -> None:
    """No label takes a path, a user, a role list or a token."""
    first = make_jwt(sub="warm-up")
    stub.tokens[first] = "x"
    client.simulate_get("/verify/warm", headers={"Authorization": f"Bearer {first}"})
    client.simulate_get("/verify?roles=r0", headers={"Authorization": f"Bearer {first}"})
    before = series_count(registry)
    for i in range(1000):
        token = make_jwt(sub=f"user-{i}", roles=[f"role-{i}"])
        stub.tokens[token] = "x"
        client.simulate_get(
            f"/verify/path/{i}",
            headers={"Authorization": f"Bearer {token}"},
            params={"roles": f"role-{i}" if i % 2 else f"other-{i}"},
        )
    assert series_count(registry) == before
    text = client.simulate_get("/metrics").text
    assert "user-7" not in text
    assert "path/7" not in text
    assert "role-7" not in text


@pytest.mark.parametrize(
    ("last_answer", "probe_ok", "ready"),
    [(95.0, False, True), (None, True, True), (None, False, False), (10.0, False, False)],
)
def test_readiness_trusts_recent_answers_and_probes_at_most_every_few_seconds(
    last_answer: float | None, probe_ok: bool, ready: bool
) -> None:
    probes: list[int] = []

    def probe() -> bool:
        probes.append(1)
        return probe_ok

    readiness = Readiness(probe, lambda: last_answer, lambda: 100.0)
    for _ in range(5):
        assert (readiness.problem() is None) is ready
    assert len(probes) <= 1


def test_not_ready_while_the_circuit_breaker_holds_calls_back() -> None:
    held_back = [True]
    readiness = Readiness(
        lambda: True, lambda: 99.0, lambda: 100.0, is_held_back=lambda: held_back[0]
    )
    assert readiness.problem() == "authorizer failing: circuit open"
    held_back[0] = False
    assert readiness.problem() is None
