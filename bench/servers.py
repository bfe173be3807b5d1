"""The Python servers under test: authsvc (tests.support.stack) and the bare Falcon app.

Both run under authsvc's gunicorn configuration with the same AUTHSVC_* settings, so they
differ only in the application.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from authsvc.settings import SPECS
from tests.support import processes
from tests.support.stack import LOOPBACK, REPO, running_authsvc

WORKERS = 2
"""What tests.support.stack.running_authsvc starts: one worker per core of this machine."""
CLIENT_ID = "authsvc-bench"


@dataclass(frozen=True, slots=True)
class Server:
    """A running gunicorn: its base URL and the port its master and workers listen on."""

    url: str
    port: int

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def default_of(env: str) -> str:
    """The default authsvc gives the setting `env` (read from authsvc.settings.SPECS)."""
    for spec in SPECS:
        if spec.env == env and spec.default is not None:
            return spec.default
    raise KeyError(env)


def settings(authorizer_url: str, **overrides: str) -> dict[str, str]:
    """authsvc's environment: the fake Authorizer, plus `overrides` (AUTHSVC_* names)."""
    return {"AUTHORIZER_URL": authorizer_url, "AUTHORIZER_CLIENT_ID": CLIENT_ID, **overrides}


@contextlib.contextmanager
def authsvc(workdir: Path, env: Mapping[str, str]) -> Iterator[Server]:
    """authsvc via its console script, started by tests.support.stack.running_authsvc."""
    workdir.mkdir(parents=True, exist_ok=True)
    with running_authsvc(workdir, env) as url:
        port = urlsplit(url).port
        if port is None:
            raise RuntimeError(f"running_authsvc gave a URL without a port: {url}")
        yield Server(url, port)


@contextlib.contextmanager
def bare_app(workdir: Path, env: Mapping[str, str]) -> Iterator[Server]:
    """bench.bare_app under `gunicorn -c python:authsvc.gunicorn_conf`, with `env` settings."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = processes.free_port()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHSVC_", "AUTHORIZER_"))
    }
    child_env.update(env, AUTHSVC_BIND=f"{LOOPBACK}:{port}", AUTHSVC_WORKERS=str(WORKERS))
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:authsvc.gunicorn_conf",
        "bench.bare_app:application",
    ]
    process = processes.start(
        "bare-app", argv, log_path=workdir / "bare-app.log", env=child_env, cwd=REPO
    )
    try:
        url = f"http://{LOOPBACK}:{port}"
        processes.wait_for_http(process, f"{url}/healthz")
        yield Server(url, port)
    finally:
        # NOTE: gunicorn's quick shutdown, as running_authsvc does: on SIGTERM a gevent worker
        # waits out nginx's idle keep-alive connections for its whole graceful_timeout.
        processes.stop(process, signum=signal.SIGINT)
