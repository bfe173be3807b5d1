"""Graceful shutdown: on SIGTERM /readyz turns 503 first, and in-flight checks still finish."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import requests

from tests.fakes.authorizer import FakeAuthorizer
from tests.support import processes

DELAY_S = 1.5
PASSWORD = "a shutdown password"


def test_sigterm_drains_readiness_first_and_finishes_in_flight_checks(tmp_path: Path) -> None:
    with FakeAuthorizer() as fake:
        fake.add_user("d@example.com", PASSWORD)
        token = fake.login("d@example.com", PASSWORD).access_token
        port = processes.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "AUTHORIZER_URL": fake.url,
            "AUTHORIZER_CLIENT_ID": fake.client_id,
            "AUTHSVC_BIND": f"127.0.0.1:{port}",
            "AUTHSVC_WORKERS": "2",
            "AUTHSVC_SHUTDOWN_DELAY": str(DELAY_S),
        }
        process = processes.start(
            "authsvc", [sys.executable, "-m", "authsvc"], log_path=tmp_path / "log", env=env
        )
        try:
            processes.wait_for_http(process, f"{url}/readyz")
            # A check that is still waiting on Authorizer when SIGTERM arrives.
            fake.set_fault("delay", delay_s=DELAY_S + 1)
            answers: list[int] = []
            in_flight = threading.Thread(
                target=lambda: answers.append(
                    requests.get(
                        f"{url}/verify", headers={"Authorization": f"Bearer {token}"}, timeout=20
                    ).status_code
                )
            )
            in_flight.start()
            deadline = time.monotonic() + 5
            while not any(seen.path == "/graphql" for seen in fake.requests_seen):
                assert time.monotonic() < deadline, "the check never reached Authorizer"
                time.sleep(0.02)  # bounded poll
            signalled_at = time.monotonic()
            process.popen.send_signal(signal.SIGTERM)
            deadline = signalled_at + DELAY_S
            while processes.http_status(f"{url}/readyz") != 503:
                assert time.monotonic() < deadline, "/readyz never turned 503 while draining"
                time.sleep(0.02)  # bounded poll
            assert processes.http_status(f"{url}/healthz") == 200  # still serving meanwhile
            fake.set_fault("delay", delay_s=0.5)  # Authorizer answers the in-flight check
            in_flight.join(timeout=20)
            assert answers == [200]
            assert process.popen.wait(timeout=20) == 0
            assert time.monotonic() - signalled_at >= DELAY_S
        finally:
            fake.set_fault(None)
            processes.stop(process, signum=signal.SIGINT)
