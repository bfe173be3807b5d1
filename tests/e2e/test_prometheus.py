"""A real Prometheus server scraping a real authsvc (gunicorn, 2 workers) with deploy/prometheus/:
what operators will see, read back through Prometheus' HTTP query API.

authsvc here is its own instance, so nothing but these tests sends it /verify requests and
the decision counter must reach exactly the number sent.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import requests

from tests.e2e.conftest import Login, authsvc_settings, stack_outcomes
from tests.fakes.authorizer import FakeAuthorizer
from tests.support.prometheus import (
    RULES_FILE,
    api,
    dashboard_queries,
    metric_names,
    query,
    running_prometheus,
)
from tests.support.stack import running_authsvc

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10.0
# Scrapes and rule evaluations run every second; this bounds each wait for them.
PROMETHEUS_WAIT_S = 30.0
POLL_INTERVAL_S = 0.25
T = TypeVar("T")


@pytest.fixture(scope="module")
def metered_authsvc(
    tmp_path_factory: pytest.TempPathFactory, authorizer: FakeAuthorizer
) -> Iterator[str]:
    """An authsvc of this module's own, so its decision count is exactly what we sent."""
    workdir = tmp_path_factory.mktemp("authsvc-metered")
    with stack_outcomes(), running_authsvc(workdir, authsvc_settings(authorizer)) as url:
        yield url


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, metered_authsvc: str, http: requests.Session
) -> Iterator[str]:
    """Prometheus with deploy/prometheus/, once it has scraped authsvc successfully."""
    workdir = tmp_path_factory.mktemp("prometheus")
    with stack_outcomes(), running_prometheus(workdir, authsvc_url=metered_authsvc) as url:
        eventually("a scrape of authsvc", lambda: scalar(http, url, 'up{job="authsvc"} == 1'))
        yield url


def eventually(what: str | Callable[[], str], probe: Callable[[], T | None]) -> T:
    """`probe()`'s first result other than None, polled until PROMETHEUS_WAIT_S runs out;
    `what` (or what it returns, asked then) names the awaited state in the failure."""
    deadline = time.monotonic() + PROMETHEUS_WAIT_S
    while (result := probe()) is None:
        if time.monotonic() >= deadline:
            awaited = what if isinstance(what, str) else what()
            pytest.fail(f"Prometheus did not show {awaited} within {PROMETHEUS_WAIT_S:g}s")
        time.sleep(POLL_INTERVAL_S)
    return result


def scalar(http: requests.Session, prometheus: str, promql: str) -> float | None:
    """The value of a query answering one sample, or None while it answers none."""
    result = query(http, prometheus, promql)
    assert len(result) <= 1, result
    return result[0][1] if result else None


def verify(http: requests.Session, authsvc: str, path: str, token: str = "") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.get(f"{authsvc}{path}", headers=headers, timeout=TIMEOUT_S).status_code


def test_prometheus_counts_exactly_the_decisions_sent(
    http: requests.Session, metered_authsvc: str, prometheus: str, user: Login
) -> None:
    """N /verify answers across both workers reach Prometheus as exactly N decisions, by
    outcome and reason."""
    assert scalar(http, prometheus, "sum(authsvc_decisions_total)") == 0
    token = user.tokens.access_token
    sent = Counter(
        [verify(http, metered_authsvc, "/verify", token) for _ in range(6)]
        + [verify(http, metered_authsvc, "/verify") for _ in range(3)]
        + [verify(http, metered_authsvc, "/verify?roles=admin", token) for _ in range(2)]
        + [verify(http, metered_authsvc, "/verify?role=admin", token)]
    )
    assert sent == {200: 6, 403: 5, 400: 1}
    total = sum(sent.values())

    def counted() -> float | None:
        value = scalar(http, prometheus, "sum(authsvc_decisions_total)")
        assert value is None or value <= total, f"Prometheus counted {value} of {total}"
        return value if value == total else None

    eventually(f"{total} decisions", counted)
    by_reason = {
        (labels["outcome"], labels.get("reason", "")): value
        for labels, value in query(
            http, prometheus, "sum by (outcome, reason) (authsvc_decisions_total) > 0"
        )
    }
    assert by_reason == {
        ("allow", ""): 6,
        ("deny", "missing_credential"): 3,
        ("deny", "missing_role"): 2,
        ("deny", "invalid_request"): 1,
    }


def test_rules_load_and_evaluate_cleanly(http: requests.Session, prometheus: str) -> None:
    """Every recording rule and alert of deploy/prometheus/ runs against real authsvc series
    without an error (a wrong label match or a duplicate series would show here)."""

    def evaluated() -> list[dict[str, str]] | None:
        groups = api(http, prometheus, "/api/v1/rules", {})["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule["health"] != "unknown" for rule in rules) else None

    rules = eventually("every rule evaluated", evaluated)
    assert {rule["health"] for rule in rules} == {"ok"}, [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]
    groups = api(http, prometheus, "/api/v1/rules", {})["groups"]
    assert {group["file"].rsplit("/", 1)[-1] for group in groups} == {RULES_FILE}


def test_the_recording_rules_see_authsvc_under_its_job(
    http: requests.Session, metered_authsvc: str, prometheus: str
) -> None:
    """The job name and labels the rules aggregate by are the ones the scrape produces."""
    assert verify(http, metered_authsvc, "/verify") == 403
    eventually(
        "a decision rate recorded",
        lambda: scalar(http, prometheus, 'sum(job:authsvc_decisions:rate5m{job="authsvc"}) > 0'),
    )


def test_every_dashboard_query_answers_with_data(
    http: requests.Session, metered_authsvc: str, prometheus: str, user: Login
) -> None:
    """Prometheus itself parses each Grafana query and finds series for it: the dashboard's
    names and labels are those a live /metrics serves."""
    assert verify(http, metered_authsvc, "/verify", user.tokens.access_token) == 200
    live = {
        labels["__name__"]
        for labels, _ in query(http, prometheus, 'count by (__name__) ({job="authsvc"})')
    }
    for title, expr in dashboard_queries():
        assert metric_names(expr) <= live, (title, expr)

    empty: list[str] = []

    def all_answer() -> bool | None:
        empty[:] = [f"{t}: {e}" for t, e in dashboard_queries() if not query(http, prometheus, e)]
        return None if empty else True

    eventually(lambda: "data for these dashboard queries: " + "; ".join(empty), all_answer)
