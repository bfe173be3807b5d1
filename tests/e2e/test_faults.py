"""Authorizer fails under steady load through real nginx: authsvc fails closed and recovers.

Phases of a few seconds each, with requests flowing all the time: Authorizer healthy, stopped
(connections refused), hanging, answering 500s, then back. Three kinds of token are sent:
tokens confirmed before the trouble (cached), tokens Authorizer never issued (forged), and
valid tokens first seen during the trouble (unknown).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import CLIENT_ID, stack_outcomes
from tests.fakes.authorizer import FakeAuthorizer
from tests.jwts import make_jwt
from tests.support.echo_backend import EchoBackend
from tests.support.stack import Proxy, running_authsvc, running_nginx

CONNECT_TIMEOUT_S = 0.2
READ_TIMEOUT_S = 0.5
BUDGET_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S  # no 429 waiting allowed here
CIRCUIT_MAX_OPEN_S = 2.0
PHASE_S = 2.5
CLIENTS = 8
PASSWORD = "a fault-test password"


@dataclass(frozen=True, slots=True)
class Answer:
    phase: str
    kind: str  # cached, forged, unknown
    status: int
    seconds: float
    at: float  # monotonic() when the answer came


@dataclass
class Fleet:
    """authsvc behind nginx, asking a fake Authorizer the test can stop and break."""

    authorizer: FakeAuthorizer
    proxy: Proxy
    cached: list[str]  # confirmed before the trouble
    early: list[str]  # first sent while Authorizer is healthy
    unknown: list[str]  # first sent during the trouble


@pytest.fixture
def fleet(tmp_path: Path, app: EchoBackend) -> Iterator[Fleet]:
    fake = FakeAuthorizer(client_id=CLIENT_ID).start()
    settings = {
        "AUTHORIZER_URL": fake.url,
        "AUTHORIZER_CLIENT_ID": CLIENT_ID,
        "AUTHSVC_AUTHORIZER_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
        "AUTHSVC_AUTHORIZER_TIMEOUT": str(READ_TIMEOUT_S),
        "AUTHSVC_AUTHORIZER_RATE_LIMIT_WAIT": "0",
        "AUTHSVC_CIRCUIT_OPEN": "0.25",
        "AUTHSVC_CIRCUIT_MAX_OPEN": str(CIRCUIT_MAX_OPEN_S),
    }
    tokens = []
    for n in range(60):
        fake.add_user(f"user{n}@example.com", PASSWORD)
        tokens.append(fake.login(f"user{n}@example.com", PASSWORD).access_token)
    try:
        with (
            stack_outcomes(),
            running_authsvc(mkdir(tmp_path / "authsvc"), settings) as authsvc_url,
            running_nginx(
                mkdir(tmp_path / "nginx"), authsvc_url=authsvc_url, app_url=app.url
            ) as proxy,
        ):
            yield Fleet(fake, proxy, cached=tokens[:10], early=tokens[10:20], unknown=tokens[20:])
    finally:
        fake.set_fault(None)
        fake.stop()


def ask(session: requests.Session, proxy: Proxy, token: str) -> tuple[int, float]:
    started = time.monotonic()
    response = session.get(
        f"{proxy.url}/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code, time.monotonic() - started


def run_load(
    fleet: Fleet, phases: list[tuple[str, Callable[[], None]]]
) -> tuple[list[Answer], dict[str, float]]:
    """Steady load from CLIENTS threads while each phase's change is applied in turn."""
    answers: list[Answer] = []
    lock = threading.Lock()
    phase = [phases[0][0]]
    stop = threading.Event()
    forged = itertools.count()

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in itertools.count(n):
                if stop.is_set():
                    return
                current = phase[0]
                kind = ("cached", "forged", "unknown")[i % 3]
                if kind == "cached":
                    token = fleet.cached[i % len(fleet.cached)]
                elif kind == "forged":
                    token = make_jwt(sub=f"forged-{next(forged)}")
                else:
                    pool = fleet.early if current == "healthy" else fleet.unknown
                    token = pool[i % len(pool)]
                status, seconds = ask(session, fleet.proxy, token)
                with lock:
                    answers.append(Answer(current, kind, status, seconds, time.monotonic()))

    started_at: dict[str, float] = {}
    with ThreadPoolExecutor(CLIENTS) as pool:
        for n in range(CLIENTS):
            pool.submit(client, n)
        for name, change in phases:
            change()
            phase[0] = name
            started_at[name] = time.monotonic()
            # The phase's duration, under load; the last one is long enough for every worker's
            # circuit to close.
            time.sleep(PHASE_S if name != phases[-1][0] else CIRCUIT_MAX_OPEN_S + 3)
        stop.set()
    return answers, started_at


def test_authorizer_faults_under_load_never_let_anyone_in_and_recovery_is_quick(
    fleet: Fleet,
) -> None:
    with requests.Session() as session:
        for token in fleet.cached:  # confirmed before the trouble
            assert ask(session, fleet.proxy, token)[0] == 200
    fake = fleet.authorizer
    answers, started_at = run_load(
        fleet,
        [
            ("healthy", lambda: None),
            ("stopped", fake.stop),
            ("hanging", lambda: hang_and_start(fake)),
            ("500s", lambda: fake.set_fault("http_500_html")),
            ("restored", lambda: fake.set_fault(None)),
        ],
    )
    by_phase = Counter((a.phase, a.kind, a.status) for a in answers)
    print("\nanswers by (phase, kind, status):", dict(sorted(by_phase.items())))

    # Nobody gets in on a token Authorizer never issued, in any phase.
    assert [a for a in answers if a.kind == "forged" and a.status == 200] == []
    # While Authorizer is in trouble, a token it never confirmed gets no 200.
    trouble = {"stopped", "hanging", "500s"}
    assert [
        a for a in answers if a.phase in trouble and a.kind == "unknown" and a.status == 200
    ] == []
    # ... and they are refused as "cannot confirm" (nginx turns authsvc's 503 into 500).
    unknown_statuses = {a.status for a in answers if a.phase in trouble and a.kind == "unknown"}
    assert unknown_statuses == {500}
    # Confirmed tokens keep working from the cache through the whole outage.
    cached_statuses = {a.status for a in answers if a.kind == "cached"}
    assert cached_statuses == {200}
    # Every answer comes within authsvc's budget (plus the proxy hop and queueing).
    slowest = max(a.seconds for a in answers)
    print(f"slowest answer: {slowest * 1000:.0f} ms (budget {BUDGET_S * 1000:.0f} ms)")
    assert slowest < BUDGET_S + 0.5
    assert len(answers) > 200  # the load really was steady

    # Recovery: valid tokens refused during the trouble are confirmed again soon after
    # Authorizer's return (within the circuit's longest open interval), and from then on.
    restored_at = started_at["restored"]
    restored = [a for a in answers if a.phase == "restored" and a.kind == "unknown"]
    first_ok = next(a.at for a in restored if a.status == 200)
    print(f"recovered {first_ok - restored_at:.2f} s after Authorizer came back")
    assert first_ok - restored_at < CIRCUIT_MAX_OPEN_S + 1
    settled = [a for a in restored if a.at > first_ok + CIRCUIT_MAX_OPEN_S]
    assert settled
    assert {a.status for a in settled} == {200}


def hang_and_start(fake: FakeAuthorizer) -> None:
    """Back up, but hanging: the fault is set first, so no call slips through in between."""
    fake.set_fault("hang")
    fake.start()


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
