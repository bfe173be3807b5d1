"""Run a real Prometheus server on loopback with deploy/prometheus/ as written, and query it.

prometheus.yml is used with only its scrape target and its intervals changed (to the running
authsvc, and to 1 s so a test waits seconds, not minutes); authsvc-rules.yml is loaded
unchanged. Like stack.py, nothing here imports pytest: a missing binary raises `MissingBinary`,
a recipe that no longer has a line we change raises `StackError`.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.support import processes
from tests.support.stack import LOOPBACK, REPO, MissingBinary, StackError

PROMETHEUS_RECIPE = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "authsvc-dashboard.json"
RULES_FILE = "authsvc-rules.yml"
INSTALL_HINT = "scripts/bootstrap installs Debian's prometheus package"
QUERY_TIMEOUT_S = 5.0
TEST_INTERVAL = "1s"

# The lines of prometheus.yml we change, each of which must appear exactly once; the rest of
# the recipe (job name, metrics_path, rule_files, timeouts) applies as written.
TARGET_LINE = "- authsvc:8080"
TIMING_LINES = {
    "scrape_interval: 15s": f"scrape_interval: {TEST_INTERVAL}",
    "evaluation_interval: 15s": f"evaluation_interval: {TEST_INTERVAL}",
    # A scrape timeout may not exceed the interval.
    "scrape_timeout: 5s": f"scrape_timeout: {TEST_INTERVAL}",
}


def config_for(recipe: str, authsvc_url: str) -> str:
    """prometheus.yml text `recipe` pointed at `authsvc_url`, scraping and evaluating every 1 s.

    Raises `StackError` when the recipe no longer holds one of the lines we change.
    """
    replacements = {TARGET_LINE: f"- {urlsplit(authsvc_url).netloc}", **TIMING_LINES}
    for old, new in replacements.items():
        if recipe.count(old) != 1:
            raise StackError(f"deploy/prometheus/prometheus.yml no longer has {old!r} once")
        recipe = recipe.replace(old, new)
    return recipe


@contextlib.contextmanager
def running_prometheus(workdir: Path, *, authsvc_url: str) -> Iterator[str]:
    """Prometheus scraping `authsvc_url` with deploy/prometheus/; yields its base URL.

    Its config, the rules beside it, its TSDB and its log all live in `workdir`.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise MissingBinary("prometheus", INSTALL_HINT)
    recipe = (PROMETHEUS_RECIPE / "prometheus.yml").read_text(encoding="utf-8")
    config = workdir / "prometheus.yml"
    config.write_text(config_for(recipe, authsvc_url), encoding="utf-8")
    # NOTE: rule_files are relative to the config file, so the rules go beside it, unchanged.
    shutil.copyfile(PROMETHEUS_RECIPE / RULES_FILE, workdir / RULES_FILE)
    port = processes.free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}",
    ]
    process = processes.start("prometheus", argv, log_path=workdir / "prometheus.log", cwd=workdir)
    try:
        url = f"http://{LOOPBACK}:{port}"
        processes.wait_for_http(process, f"{url}/-/ready")
        yield url
    finally:
        processes.stop(process)


def api(http: requests.Session, url: str, path: str, params: Mapping[str, str]) -> Any:
    """The `data` of a Prometheus HTTP API answer; raises `StackError` on an API error."""
    response = http.get(f"{url}{path}", params=dict(params), timeout=QUERY_TIMEOUT_S)
    body = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        raise StackError(
            f"Prometheus {path} {dict(params)} answered {response.status_code}: {body}"
        )
    return body["data"]


def query(http: requests.Session, url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    """An instant query's result vector as (labels, value) pairs."""
    data = api(http, url, "/api/v1/query", {"query": promql})
    if data["resultType"] != "vector":
        raise StackError(f"{promql!r} is a {data['resultType']}, not an instant vector")
    return [(dict(sample["metric"]), float(sample["value"][1])) for sample in data["result"]]


# An authsvc metric name as PromQL, a rules file or a dashboard writes it: not the middle of a
# recording rule's name (job:authsvc_decisions:rate5m), which colons delimit.
METRIC_NAME = re.compile(r"(?<![\w:])authsvc_\w+(?![\w:])")
# What Grafana substitutes before a query reaches Prometheus, and a value that parses.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}


def metric_names(text: str) -> set[str]:
    """The authsvc metric names `text` mentions."""
    return set(METRIC_NAME.findall(text))


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of the Grafana dashboard, its variables included,
    with Grafana's variables substituted as Grafana would before asking Prometheus."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [
        (f"variable {variable['name']}", variable["definition"])
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    queries += [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    return [(title, _substitute(expr)) for title, expr in queries]


def _substitute(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    # NOTE: label_values(selector, label) is Grafana's, not PromQL; Prometheus sees the selector.
    match = re.fullmatch(r"label_values\((.*), *\w+\)", expr)
    return match.group(1) if match else expr
