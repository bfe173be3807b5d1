"""authsvc as users run it: the console script, gunicorn and the project's gunicorn config."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from authsvc.settings import SPECS
from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes


@pytest.fixture(scope="module")
def authsvc_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """authsvc pointed at a closed port: every credential it must confirm answers 503."""
    port = processes.free_port()
    env = {
        **os.environ,
        "AUTHORIZER_URL": f"http://127.0.0.1:{processes.free_port()}",
        "AUTHSVC_BIND": f"127.0.0.1:{port}",
        "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
        "AUTHSVC_WORKERS": "1",
    }
    log = tmp_path_factory.mktemp("gunicorn") / "authsvc.log"
    proc = processes.start("authsvc", [sys.executable, "-m", "authsvc"], log_path=log, env=env)
    try:
        processes.wait_for_http(proc, f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop(proc)


def test_large_cookie_is_not_refused_by_gunicorn(authsvc_url: str) -> None:
    """A 9 KB cookie passes gunicorn's header limits (a 431/400 would become nginx's 500)."""
    cookie = "cookie_session=" + "a" * 9000 + "; other=" + "b" * 3000
    response = requests.get(f"{authsvc_url}/verify", headers={"Cookie": cookie}, timeout=5)
    assert response.status_code == 503  # reached the app, which could not ask Authorizer
    assert response.headers["X-Auth-Request-Error"] == "authorizer_unavailable"


def test_contradictory_forwarded_headers_are_not_a_400(authsvc_url: str) -> None:
    headers = {
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Ssl": "on",
        "X-Forwarded-Protocol": "ssl",
        "X-Forwarded-For": "203.0.113.9, 198.51.100.1",
        "X-Forwarded-Host": "app.example.com",
        "X-Forwarded-Uri": "/api?x=1",
        "X-Forwarded-Method": "POST",
    }
    response = requests.get(f"{authsvc_url}/verify", headers=headers, timeout=5)
    assert response.status_code == 403
    assert response.headers["X-Auth-Request-Error"] == "missing_credential"


def test_connection_is_kept_alive_across_requests(authsvc_url: str) -> None:
    host, port = authsvc_url.removeprefix("http://").split(":")
    request = f"GET /verify HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        answers = []
        for _ in range(3):
            sock.sendall(request)
            answers.append(_read_response(sock))
    assert all(a.startswith(b"HTTP/1.1 403") for a in answers)
    assert all(b"connection: close" not in a.lower() for a in answers)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_unknown_method_gets_a_decision_not_a_405(authsvc_url: str) -> None:
    response = requests.request("PROPFIND", f"{authsvc_url}/verify/dav/x", timeout=5)
    assert response.status_code == 403
    assert response.headers["X-Auth-Request-Error"] == "missing_credential"


def test_bad_setting_exits_non_zero_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "AUTHORIZER_URL": "http://auth.example.com", "AUTHSVC_CACHE_TTL": "soon"}
    result = subprocess.run(
        [sys.executable, "-m", "authsvc"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "authsvc: invalid setting AUTHSVC_CACHE_TTL: expected a number of seconds between 0 and "
        "86400, got 'soon'"
    ]


def test_help_lists_every_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authsvc", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for spec in SPECS:
        assert spec.env in result.stdout


@pytest.mark.parametrize("worker_class", ["gthread", "gevent", "sync"])
def test_every_worker_class_confirms_tokens_with_authorizer(
    tmp_path: Path, worker_class: str
) -> None:
    """gevent patches sockets at worker start: the Authorizer client must still work there."""
    with FakeAuthorizer() as fake:
        fake.add_user("w@example.com", "password-123", roles=["user", "admin"])
        tokens = fake.login("w@example.com", "password-123", roles=["admin"])
        port = processes.free_port()
        env = {
            **os.environ,
            "AUTHORIZER_URL": fake.url,
            "AUTHSVC_BIND": f"127.0.0.1:{port}",
            "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
            "AUTHSVC_WORKERS": "1",
            "AUTHSVC_WORKER_CLASS": worker_class,
        }
        proc = processes.start(
            "authsvc", [sys.executable, "-m", "authsvc"], log_path=tmp_path / "log", env=env
        )
        try:
            processes.wait_for_http(proc, f"http://127.0.0.1:{port}/healthz")
            with requests.Session() as http:
                http.trust_env = False
                for _ in range(3):
                    with http.get(
                        f"http://127.0.0.1:{port}/verify?roles=admin",
                        headers={"Authorization": f"Bearer {tokens.access_token}"},
                        timeout=10,
                    ) as answer:
                        assert answer.status_code == 200
                        assert answer.headers["X-Auth-Request-User"] == tokens.user_id
            assert fake.calls["validate_jwt_token"] == 1
        finally:
            processes.stop(proc)


def _decisions_total(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("authsvc_decisions_total{")
    )


def test_metrics_add_up_across_workers_and_survive_a_worker_restart(tmp_path: Path) -> None:
    """3 workers: N requests read back as exactly N, before and after one worker is replaced."""
    port = processes.free_port()
    env = {
        **os.environ,
        "AUTHORIZER_URL": f"http://127.0.0.1:{processes.free_port()}",
        "AUTHSVC_BIND": f"127.0.0.1:{port}",
        "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
        "AUTHSVC_WORKERS": "3",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = processes.start(
        "authsvc", [sys.executable, "-m", "authsvc"], log_path=tmp_path / "log", env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(proc, f"{url}/healthz")
        for _ in range(90):  # a fresh connection each: the kernel spreads them over workers
            assert requests.get(f"{url}/verify", timeout=5).status_code == 403
        assert _decisions_total(url) == 90
        workers = [int(pid) for pid in _children(proc.pid)]
        assert len(workers) == 3
        os.kill(workers[0], signal.SIGTERM)  # gunicorn replaces it
        deadline = time.monotonic() + 20
        while (
            sorted(_children(proc.pid)) == sorted(map(str, workers))
            or len(_children(proc.pid)) != 3
        ):
            assert time.monotonic() < deadline, "worker was not replaced"
            time.sleep(0.05)  # bounded readiness poll for the replacement worker
        for _ in range(30):
            requests.get(f"{url}/verify", timeout=5)
        assert _decisions_total(url) == 120
    finally:
        processes.stop(proc)


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def test_decision_lines_reach_stderr_within_about_a_second_even_when_idle(
    tmp_path: Path,
) -> None:
    """Lines are written in batches; the flusher writes a lone line out while traffic is idle."""
    port = processes.free_port()
    env = {
        **os.environ,
        "AUTHORIZER_URL": f"http://127.0.0.1:{processes.free_port()}",
        "AUTHSVC_BIND": f"127.0.0.1:{port}",
        "AUTHSVC_SHUTDOWN_DELAY": "0",  # no drain: these tests stop it right away
        "AUTHSVC_WORKERS": "1",
    }
    log = tmp_path / "log"
    proc = processes.start("authsvc", [sys.executable, "-m", "authsvc"], log_path=log, env=env)
    try:
        processes.wait_for_http(proc, f"http://127.0.0.1:{port}/healthz")
        answer = requests.get(
            f"http://127.0.0.1:{port}/verify", headers={"X-Request-Id": "idle-1"}, timeout=5
        )
        assert answer.headers["X-Request-Id"] == "idle-1"
        deadline = time.monotonic() + 5
        while '"request_id":"idle-1"' not in log.read_text():
            assert time.monotonic() < deadline, "the decision line was never written"
            time.sleep(0.05)  # bounded poll for the flusher
        (line,) = [
            json.loads(text) for text in log.read_text().splitlines() if text.startswith("{")
        ]
        assert line["outcome"] == "deny"
        assert line["reason"] == "missing_credential"
    finally:
        processes.stop(proc, signum=signal.SIGINT)
