from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from authsvc.errors import AuthorizerUnavailable, InvalidCredentials
from authsvc.flight import SingleFlight, _Flight


class CountingFlight(SingleFlight[str]):
    """Counts callers that joined someone else's flight, so a test can wait for them."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(wait_s)
        self.followers = threading.Semaphore(0)

    def _follow(self, flight: _Flight[str]) -> str:
        self.followers.release()
        return super()._follow(flight)


def test_concurrent_callers_share_one_call() -> None:
    flights = CountingFlight(wait_s=5)
    calls = []

    def slow_call() -> str:
        calls.append(1)
        # Answer only once all seven other callers have joined this flight.
        for _ in range(7):
            assert flights.followers.acquire(timeout=5)
        return "answer"

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(flights.run, b"key", slow_call) for _ in range(8)]
        assert [f.result(timeout=10) for f in futures] == ["answer"] * 8
    assert len(calls) == 1


def test_followers_share_the_leaders_denial_type() -> None:
    flights: SingleFlight[str] = SingleFlight(wait_s=5)
    started, release = threading.Event(), threading.Event()

    def failing_call() -> str:
        started.set()
        release.wait(5)
        raise InvalidCredentials("no")

    with ThreadPoolExecutor(max_workers=2) as pool:
        leader = pool.submit(flights.run, b"key", failing_call)
        started.wait(5)
        follower = pool.submit(flights.run, b"key", failing_call)
        release.set()
        with pytest.raises(InvalidCredentials):
            leader.result(timeout=5)
        with pytest.raises(InvalidCredentials):
            follower.result(timeout=5)


def test_follower_gives_up_after_the_bound_as_unavailable() -> None:
    flights: SingleFlight[str] = SingleFlight(wait_s=0.05)
    started, release = threading.Event(), threading.Event()

    def stuck_call() -> str:
        started.set()
        release.wait(5)
        return "late"

    with ThreadPoolExecutor(max_workers=2) as pool:
        leader = pool.submit(flights.run, b"key", stuck_call)
        started.wait(5)
        with pytest.raises(AuthorizerUnavailable):
            flights.run(b"key", stuck_call)
        release.set()
        assert leader.result(timeout=5) == "late"


def test_unexpected_leader_failure_is_unavailable_for_followers() -> None:
    flights: SingleFlight[str] = SingleFlight(wait_s=5)
    started, release = threading.Event(), threading.Event()

    def broken_call() -> str:
        started.set()
        release.wait(5)
        raise RuntimeError("bug")

    with ThreadPoolExecutor(max_workers=2) as pool:
        leader = pool.submit(flights.run, b"key", broken_call)
        started.wait(5)
        follower = pool.submit(flights.run, b"key", broken_call)
        release.set()
        with pytest.raises(RuntimeError):
            leader.result(timeout=5)
        with pytest.raises(AuthorizerUnavailable):
            follower.result(timeout=5)


def test_different_keys_do_not_wait_for_each_other() -> None:
    flights: SingleFlight[str] = SingleFlight(wait_s=5)
    assert flights.run(b"a", lambda: "a") == "a"
    assert flights.run(b"b", lambda: "b") == "b"
