"""nginx configurations for the benchmark, written around the deploy/nginx recipe files.

Every site serves a tiny static file (`/ok.txt`) from the protected location. NOTE: a
`return 200` there would run in the rewrite phase, before auth_request's access phase, and skip
the check; a static file is produced in the content phase, after it. Each configuration gets a
directory of its own, with `authsvc` linked to deploy/nginx as in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import processes
from tests.support.stack import (
    CACHE_ZONE_PATH,
    LOOPBACK,
    NGINX_RECIPE,
    StackError,
    require_binary,
    write_nginx_conf,
)

UPSTREAM_KEEPALIVE = 32
PROTECTED_PATH = "/ok.txt"
CACHE_ZONE_RECIPE = "authsvc-cache-zone.conf"
CACHED_AUTH_RECIPE = "authsvc-auth-cached.conf"


@dataclass(frozen=True, slots=True)
class Nginx:
    """A running nginx: its URL for wrk and the port its processes listen on."""

    url: str
    port: int


def has_cache_recipe() -> bool:
    """Whether deploy/nginx ships the optional decision-cache recipe yet."""
    return (NGINX_RECIPE / CACHE_ZONE_RECIPE).is_file() and (
        NGINX_RECIPE / CACHED_AUTH_RECIPE
    ).is_file()


def protected_site(
    port: int, upstream: str | Sequence[str], *, workdir: Path, is_cached: bool
) -> str:
    """The recipe: `authsvc-auth.conf` (or the cached one) and `authsvc-protect.conf`.

    `upstream` (host:port, or several: nginx balances them round-robin) is whatever answers
    /verify: authsvc, the bare app or nginx itself.
    """
    auth = CACHED_AUTH_RECIPE if is_cached else "authsvc-auth.conf"
    zone = f"    include {cache_zone(workdir)};\n" if is_cached else ""
    addresses = [upstream] if isinstance(upstream, str) else list(upstream)
    servers = " ".join(f"server {address};" for address in addresses)
    return f"""{zone}
    upstream authsvc {{ {servers} keepalive {UPSTREAM_KEEPALIVE}; }}
    server {{
        listen {LOOPBACK}:{port};
        access_log off;
        include authsvc/{auth};
        location / {{
            set $authsvc_roles "";
            include authsvc/authsvc-protect.conf;
            root {docroot(workdir)};
        }}
    }}
"""


def cache_zone(workdir: Path) -> Path:
    """authsvc-cache-zone.conf with its one production path moved into `workdir`."""
    zone = (NGINX_RECIPE / CACHE_ZONE_RECIPE).read_text(encoding="utf-8")
    if zone.count(CACHE_ZONE_PATH) != 1:
        raise StackError(f"{CACHE_ZONE_RECIPE} no longer names {CACHE_ZONE_PATH} once")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "cache-zone.conf"
    path.write_text(zone.replace(CACHE_ZONE_PATH, str(workdir / "cache")), encoding="utf-8")
    return path


def allow_all_server(port: int) -> str:
    """A second server block answering every /verify with `return 200` (nginx as the target)."""
    return f"""
    server {{
        listen {LOOPBACK}:{port};
        access_log off;
        location / {{ return 200; }}
    }}
"""


def direct_site(port: int, workdir: Path) -> str:
    """auth_request to an internal `return 200` location: no upstream hop at all."""
    return f"""
    server {{
        listen {LOOPBACK}:{port};
        access_log off;
        location = /_ok {{ internal; return 200; }}
        location / {{
            auth_request /_ok;
            root {docroot(workdir)};
        }}
    }}
"""


def write_conf(workdir: Path, http_body: str, *, worker_processes: str) -> Path:
    """stack.write_nginx_conf, tuned for load, plus the static file the protected routes serve."""
    workdir.mkdir(parents=True, exist_ok=True)
    root = docroot(workdir)
    root.mkdir()
    (root / PROTECTED_PATH.lstrip("/")).write_text("ok")
    return write_nginx_conf(
        workdir,
        http_body,
        worker_processes=worker_processes,
        worker_connections=4096,
        http_settings="    access_log off;\n    open_file_cache max=64;",
    )


def docroot(workdir: Path) -> Path:
    return workdir / "docroot"


@contextlib.contextmanager
def running(workdir: Path, http_body: str, *, port: int, worker_processes: str) -> Iterator[Nginx]:
    """Start nginx with `http_body` and wait until `port` accepts connections."""
    conf = write_conf(workdir, http_body, worker_processes=worker_processes)
    argv = [
        require_binary("nginx"),
        "-p",
        str(workdir),
        "-c",
        str(conf),
        "-e",
        str(workdir / "error.log"),
    ]
    process = processes.start("nginx", argv, log_path=workdir / "nginx.log", cwd=workdir)
    try:
        processes.wait_for_port(process, port)
        yield Nginx(f"http://{LOOPBACK}:{port}{PROTECTED_PATH}", port)
    finally:
        processes.stop(process)
