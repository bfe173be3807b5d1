"""A full run leaves no credential anywhere authsvc writes or answers.

One authsvc under gunicorn (2 workers, DEBUG logging, decision log and a verbose access log on)
behind real nginx, asking a fake Authorizer that is made to fail in every way it can. The run
sends real tokens and session cookies of several users, forged, expired, refused-type and
garbage tokens, credentials in query strings and forwarded URIs, requests gunicorn itself
refuses, and scrapes /metrics, /readyz and /healthz. Then every token and cookie it used is
looked for in everything captured: authsvc's log (gunicorn, workers, decision and access
lines), every header and body authsvc answered, and the metrics.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import CLIENT_ID, stack_outcomes
from tests.fakes.app import FaultKind
from tests.fakes.authorizer import FakeAuthorizer
from tests.support.echo_backend import EchoBackend
from tests.support.stack import running_authsvc, running_nginx

PASSWORD = "a no-secrets password"
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(B)s %(M)sms %(D)s %(L)s %(p)s '
    "%({x-request-id}i)s %({host}i)s %({user-agent}i)s %({x-forwarded-for}i)s "
    "%({x-forwarded-host}i)s %({x-forwarded-proto}i)s %({x-forwarded-method}i)s "
    "%({x-original-method}i)s %({x-real-ip}i)s %({x-auth-request-user}o)s "
    "%({x-auth-request-error}o)s %({cache-control}o)s"
)
PATIENCE_S = 15.0


@dataclass
class Run:
    """What the run sent that must never come back out, and everything that came out."""

    url: str
    authorizer: FakeAuthorizer
    credentials: list[str] = field(default_factory=list)
    captured: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def secret(self, value: str) -> str:
        self.credentials.append(value)
        return value

    def get(self, path: str = "/verify", base: str | None = None, **headers: str) -> int:
        response = requests.get((base or self.url) + path, headers=headers, timeout=10)
        # Through the proxy, a 200 is the protected app's echo of the request, not authsvc's.
        if base is None or response.status_code != 200:
            self.captured.append(
                f"{response.status_code} {dict(response.headers)}\n{response.text}"
            )
        self.statuses.append(response.status_code)
        return response.status_code

    def raw(self, head: bytes) -> None:
        """Bytes gunicorn refuses itself; its answer is captured like any other."""
        host, port = self.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(head + b"Host: authsvc.test\r\nConnection: close\r\n\r\n")
            data = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    data += chunk
        self.captured.append(data.decode("latin-1"))

    def login(self, email: str) -> tuple[str, str, str, str]:
        """A fresh login's access, id and refresh tokens and session cookie, all secrets."""
        tokens = self.authorizer.login(
            email, PASSWORD, roles=["user"], scope=["openid", "email", "profile", "offline_access"]
        )
        assert tokens.refresh_token is not None
        return (
            self.secret(tokens.access_token),
            self.secret(tokens.id_token),
            self.secret(tokens.refresh_token),
            self.secret(tokens.session_cookie),
        )


def eventually(what: str, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not probe():
        assert time.monotonic() < deadline, f"still not {what} after {PATIENCE_S} s"
        time.sleep(0.05)


def needles(credential: str) -> list[str]:
    """What would give a credential away: the whole of it, and for a JWT its claims and its
    signature (the header segment is the same in every token, so it is no secret). A long
    value is also looked for by a slice from its middle."""
    parts = credential.split(".")
    found = [credential]
    if len(parts) == 3:
        found += [part for part in parts[1:] if len(part) >= 16]
    if len(credential) > 64:
        middle = len(credential) // 2
        found.append(credential[middle : middle + 40])
    return found


@pytest.fixture
def run(tmp_path: Path, app: EchoBackend) -> Iterator[tuple[Run, Path]]:
    with FakeAuthorizer(client_id=CLIENT_ID) as fake:
        for name in ("ann", "bob", "cy"):
            fake.add_user(f"{name}@example.com", PASSWORD, roles=["user"])
        settings = {
            "AUTHORIZER_URL": fake.url,
            "AUTHORIZER_CLIENT_ID": CLIENT_ID,
            "AUTHSVC_LOG_LEVEL": "DEBUG",
            "AUTHSVC_DECISION_LOG": "true",
            "AUTHSVC_ACCESS_LOG": "-",
            "AUTHSVC_ACCESS_LOG_FORMAT": ACCESS_LOG_FORMAT,
            "AUTHSVC_AUTHORIZER_CONNECT_TIMEOUT": "0.2",
            "AUTHSVC_AUTHORIZER_TIMEOUT": "0.4",
            "AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT": "0",
            "AUTHSVC_CIRCUIT_FAILURES": "3",
            "AUTHSVC_CIRCUIT_OPEN": "0.2",
            "AUTHSVC_CIRCUIT_MAX_OPEN": "0.5",
            "AUTHSVC_CACHE_TTL": "1",
            "AUTHSVC_NEGATIVE_CACHE_TTL": "1",
        }
        workdir = tmp_path / "authsvc"
        with stack_outcomes(), running_authsvc(workdir, settings) as url:
            the_run = Run(url=url, authorizer=fake)
            nginx_dir = tmp_path / "nginx"
            nginx_dir.mkdir()
            with running_nginx(nginx_dir, authsvc_url=url, app_url=app.url) as proxy:
                drive(the_run, proxy.url)
            yield the_run, workdir / "authsvc.log"
        # running_authsvc has stopped gunicorn here: every line it wrote is in the log.


def drive(run: Run, proxy_url: str) -> None:
    ann_access, ann_id, ann_refresh, ann_session = run.login("ann@example.com")
    bob_access, _, _, bob_session = run.login("bob@example.com")
    fake = run.authorizer
    with FakeAuthorizer(client_id=CLIENT_ID, issuer=fake.issuer) as impostor:
        forged = run.secret(impostor.sign(impostor.token_claims(token_type="id_token")))
    expired = run.secret(fake.sign({**fake.token_claims(token_type="id_token"), "exp": 1}))
    garbage = run.secret("not-a-jwt-" + secrets.token_hex(24))
    huge = run.secret("h" + secrets.token_urlsafe(48 * 1024))

    # Allowed and denied answers, bearer and session, through nginx and straight to authsvc.
    for token in (ann_access, ann_id, bob_access):
        assert run.get(Authorization=f"Bearer {token}", **{"X-Request-Id": "ok-1"}) == 200
        assert run.get("/verify?roles=admin", Authorization=f"Bearer {token}") == 403
        assert run.get("/", base=proxy_url, Authorization=f"Bearer {token}") == 200
    for cookie in (ann_session, bob_session):
        assert run.get(Cookie=f"theme=dark; cookie_session={cookie}") == 200
        assert run.get(Cookie=f"cookie_session_domain={cookie}") == 200
    for token in (ann_refresh, forged, expired, garbage, huge):
        assert run.get(Authorization=f"Bearer {token}") == 403
        # nginx refuses the 64 KiB header itself (400), over its large_client_header_buffers.
        assert run.get("/admin/", base=proxy_url, Authorization=f"Bearer {token}") in (400, 403)
    assert run.get(Authorization=f"Bearer {ann_access}, Bearer {bob_access}") == 403
    assert run.get(Authorization=f"Basic {ann_access}") == 403
    assert run.get(Cookie=f"cookie_session={garbage}; cookie_session={ann_session}") in (200, 403)

    # Credentials where they do not belong: query strings and the forwarded URI.
    assert run.get(f"/verify?access_token={ann_access}") == 403
    assert run.get(f"/verify?roles=user&token={bob_access}", Cookie=f"x={bob_session}") == 403
    assert (
        run.get(
            Authorization=f"Bearer {ann_access}",
            **{
                "X-Forwarded-Uri": f"/api?access_token={ann_id}",
                "X-Original-URI": f"/api?session={ann_session}",
                "X-Forwarded-Host": "api.example.com",
                "X-Forwarded-Method": "POST",
            },
        )
        == 200
    )
    assert run.get(f"/?access_token={ann_id}", base=proxy_url) == 403

    # Requests gunicorn refuses before authsvc sees them.
    raw_token = ann_access.encode()
    run.raw(b"GET /verify?access_token=" + raw_token + b"\x01 HTTP/1.1\r\n")
    run.raw(b"GET /verify?access_token=" + raw_token + b" x HTTP/1.1\r\n")
    run.raw(b"GET /verify HTTP/1.1\r\nAuthorization: Bearer " + raw_token + b"\x00\r\n")
    run.raw(b"GET /verify HTTP/1.1\r\nX-" + raw_token + b"\x01: y\r\n")
    run.raw(b"GET /verify HTTP/1.1\r\nTransfer-Encoding: " + raw_token + b"\r\n")
    run.raw(b"GET /verify HTTP/1.1\r\nExpect: " + raw_token + b"\r\n")

    # Authorizer failing every way it can, with credentials it has not confirmed yet.
    faults: tuple[FaultKind, ...] = (
        "http_500_html",
        "truncated_json",
        "errors_without_extensions",
        "internal_system_error",
        "rate_limited",
        "hang",
    )
    for fault in faults:
        unconfirmed = [run.login("cy@example.com") for _ in range(4)]
        fake.set_fault(fault, delay_s=1.0)
        # More than AUTHSVC_CIRCUIT_FAILURES: the circuit opens too.
        for access, _, _, session in unconfirmed:
            assert run.get(Authorization=f"Bearer {access}") != 200
            assert run.get(Cookie=f"cookie_session={session}") != 200
        run.get("/readyz")
        fake.set_fault(None)
        fresh = run.login("cy@example.com")[0]

        def allowed_again(token: str = fresh) -> bool:
            return run.get(Authorization=f"Bearer {token}") == 200

        eventually(f"allowed again after {fault}", allowed_again)

    # Revocation: once their cached allows expire, logged-out credentials are refused.
    fake.logout(access_token=bob_access, session_cookie=bob_session)
    eventually("bob's token refused", lambda: run.get(Authorization=f"Bearer {bob_access}") == 403)
    eventually(
        "bob's cookie refused", lambda: run.get(Cookie=f"cookie_session={bob_session}") == 403
    )

    for path in ("/metrics", "/readyz", "/healthz"):
        run.get(path)


def test_no_credential_appears_in_logs_answers_or_metrics(run: tuple[Run, Path]) -> None:
    the_run, log_path = run
    log = log_path.read_text(encoding="utf-8", errors="replace")
    answers = "\n".join(the_run.captured)

    # The run did what it set out to do, so the search below means something.
    assert {200, 403, 503} <= set(the_run.statuses)
    assert log.count('"outcome":"allow"') >= 10
    assert '"reason":"invalid_credential"' in log
    assert "circuit open: " in log
    assert "429" in log
    assert "(detail withheld" in log
    assert "GET /verify" in log  # the access log is on
    assert "authsvc_decisions_total" in answers
    assert len(the_run.credentials) >= 20

    for credential in the_run.credentials:
        for needle in needles(credential):
            assert needle not in log, f"a credential ({needle[:8]}...) is in authsvc's log"
            assert needle not in answers, f"a credential ({needle[:8]}...) is in an answer"
