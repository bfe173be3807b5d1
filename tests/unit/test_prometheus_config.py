"""deploy/prometheus/ and deploy/grafana/, checked statically: promtool validates the scrape
configuration and the rules and runs the rules' unit tests; the dashboard is valid Grafana JSON
whose queries parse and name only metrics authsvc exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from authsvc.metrics import Metrics
from tests.support.prometheus import (
    DASHBOARD,
    PROMETHEUS_RECIPE,
    RULES_FILE,
    dashboard_queries,
    metric_names,
)

RULES_TEST_FILE = "authsvc-rules.test.yml"
SEVERITIES = ("critical", "warning", "info")


def promtool(*args: str, cwd: Path = PROMETHEUS_RECIPE) -> None:
    """Run promtool with `args`; fail with its output unless it succeeds."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (scripts/bootstrap installs Debian's prometheus)")
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def exposed_names() -> set[str]:
    """Every sample name authsvc's metrics produce (`_total`, `_bucket`, ... included), and
    the histograms' own names, which runbooks mention."""
    registry = CollectorRegistry()
    Metrics(registry)
    families = list(registry.collect())
    samples = {sample.name for family in families for sample in family.samples}
    return samples | {family.name for family in families if family.type == "histogram"}


def dashboard() -> Any:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_prometheus_config_is_valid() -> None:
    """`check config` also checks the rule files the configuration names."""
    promtool("check", "config", "prometheus.yml")


def test_rules_are_valid() -> None:
    promtool("check", "rules", RULES_FILE)


def test_rule_unit_tests_pass() -> None:
    """Each alert fires on its synthetic fault, and healthy traffic fires none."""
    promtool("test", "rules", RULES_TEST_FILE)


def test_every_alert_is_tested_both_firing_and_quiet() -> None:
    rules = (PROMETHEUS_RECIPE / RULES_FILE).read_text(encoding="utf-8")
    tests = (PROMETHEUS_RECIPE / RULES_TEST_FILE).read_text(encoding="utf-8")
    alerts = set(re.findall(r"^ +- alert: (\w+)$", rules, re.MULTILINE))
    firing = set(re.findall(r"alertname: (\w+)\n +exp_alerts:\n +- exp_labels:", tests))
    quiet = set(re.findall(r"alertname: (\w+), exp_alerts: \[\]", tests))
    assert alerts
    assert alerts - firing == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"


def test_every_alert_has_a_severity_and_a_runbook() -> None:
    rules = (PROMETHEUS_RECIPE / RULES_FILE).read_text(encoding="utf-8")
    for block in rules.split("- alert: ")[1:]:
        name = block.split()[0]
        assert re.search(rf"severity: ({'|'.join(SEVERITIES)})\n", block), name
        for annotation in ("summary", "description", "runbook"):
            assert f"\n          {annotation}: " in block, (name, annotation)


@pytest.mark.parametrize("name", [RULES_FILE, RULES_TEST_FILE])
def test_rules_name_only_metrics_authsvc_exposes(name: str) -> None:
    text = (PROMETHEUS_RECIPE / name).read_text(encoding="utf-8")
    named = metric_names(text)
    assert named
    assert named - exposed_names() == set()


def test_dashboard_is_grafana_json_on_a_datasource_variable() -> None:
    """The Prometheus data source is chosen on import (a variable), never a fixed uid."""
    board = dashboard()
    assert board["schemaVersion"] >= 39
    (datasource,) = [v for v in board["templating"]["list"] if v["name"] == "DS_PROMETHEUS"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys(), panel["title"]
        sources = [panel.get("datasource"), *(t["datasource"] for t in panel.get("targets", []))]
        for source in filter(None, sources):
            assert source == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]


def test_dashboard_queries_name_only_metrics_authsvc_exposes() -> None:
    exposed = exposed_names()
    for title, expr in dashboard_queries():
        named = metric_names(expr)
        assert named, (title, expr)
        assert named - exposed == set(), (title, expr)


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule's expression (promtool 2.42 has no bare
    PromQL parser); Grafana's variables are substituted first, as Grafana does."""
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for number, (_, expr) in enumerate(dashboard_queries()):
        rules += [f"      - record: dashboard:query_{number}", f"        expr: {json.dumps(expr)}"]
    (tmp_path / "dashboard-rules.yml").write_text("\n".join(rules) + "\n", encoding="utf-8")
    promtool("check", "rules", "dashboard-rules.yml", cwd=tmp_path)
