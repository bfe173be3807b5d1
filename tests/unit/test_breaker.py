"""The circuit breaker: opens after repeated failures, one trial at a time, backs off, closes."""

from __future__ import annotations

import pytest

from authsvc.breaker import CircuitBreaker, LoggedEvents


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.changes: list[bool] = []

    def circuit_changed(self, *, is_open: bool) -> None:
        self.changes.append(is_open)


def make(clock: Clock, events: Events | None = None, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(
        failures=failures, open_s=1.0, max_open_s=4.0, monotonic=clock, events=events
    )


def test_opens_after_the_threshold_of_consecutive_failures_only() -> None:
    clock, events = Clock(), Events()
    breaker = make(clock, events)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # an answer resets the count
    breaker.failed()
    breaker.failed()
    assert breaker.allow() is None
    breaker.failed()
    assert breaker.is_open
    assert breaker.allow() == 1.0
    assert events.changes == [True]


def test_one_trial_after_the_interval_and_its_success_closes_the_circuit() -> None:
    clock, events = Clock(), Events()
    breaker = make(clock, events)
    for _ in range(3):
        breaker.failed()
    clock.now += 0.4
    assert breaker.allow() == pytest.approx(0.6)
    clock.now += 0.6
    assert breaker.allow() is None  # the trial
    assert breaker.allow() is not None  # everyone else waits for it
    breaker.succeeded()
    assert not breaker.is_open
    assert breaker.allow() is None
    assert events.changes == [True, False]


def test_each_failed_trial_doubles_the_interval_up_to_the_maximum() -> None:
    clock = Clock()
    breaker = make(clock)
    for _ in range(3):
        breaker.failed()
    intervals = []
    for _ in range(4):
        clock.now += 10
        assert breaker.allow() is None
        breaker.failed()
        wait = breaker.allow()
        assert wait is not None
        intervals.append(wait)
    assert intervals == [2.0, 4.0, 4.0, 4.0]
    clock.now += 4
    assert breaker.allow() is None
    breaker.succeeded()
    for _ in range(3):
        breaker.failed()
    assert breaker.allow() == 1.0  # closing reset the back-off


def test_zero_failures_disables_it() -> None:
    breaker = make(Clock(), failures=0)
    for _ in range(100):
        breaker.failed()
    assert breaker.allow() is None
    assert not breaker.is_open


def test_opening_and_closing_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    clock, events = Clock(), Events()
    logged = LoggedEvents(events, failures=3, open_s=1.0)
    breaker = CircuitBreaker(failures=3, open_s=1.0, max_open_s=4.0, monotonic=clock, events=logged)
    caplog.set_level("INFO", logger="authsvc.breaker")
    logged.circuit_changed(is_open=False)  # the app's start-up report: nothing to say
    for _ in range(3):
        breaker.failed()
    clock.now += 1.0
    assert breaker.allow() is None  # the trial
    breaker.failed()  # the trial failed: still open, not a second "open" line
    clock.now += 2.0
    assert breaker.allow() is None
    breaker.succeeded()
    assert events.changes == [False, True, False]
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records] == [
        ("WARNING", "circuit open"),
        ("INFO", "circuit closed"),
    ]
    assert "3 Authorizer failures in a row" in caplog.records[0].getMessage()
