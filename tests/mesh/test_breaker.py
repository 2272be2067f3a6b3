"""The circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from covetpy.mesh.breaker import BreakerPolicy, CircuitBreaker, State, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.acquire()
        assert permit is not None
        breaker.record(permit, success=False)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        permit = breaker.acquire()
        assert permit is not None
        breaker.record(permit, success=True)


def make(clock: Clock, **policy: Any) -> tuple[CircuitBreaker, list[State]]:
    changes: list[State] = []
    breaker = CircuitBreaker(BreakerPolicy(**policy), clock=clock, on_change=changes.append)
    return breaker, changes


def test_opens_after_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    breaker, changes = make(clock, consecutive_failures=3, cool_down=5.0)
    fail(breaker, 2)
    assert breaker.state is State.CLOSED
    fail(breaker)
    assert breaker.state is State.OPEN
    assert changes == [State.OPEN]
    assert breaker.acquire() is None
    assert breaker.retry_in() == pytest.approx(5.0)


def test_a_success_resets_the_consecutive_count() -> None:
    breaker, _ = make(Clock(), consecutive_failures=3)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state is State.CLOSED


def test_half_opens_after_cool_down_and_a_probe_success_closes() -> None:
    clock = Clock()
    breaker, changes = make(clock, consecutive_failures=1, cool_down=5.0, half_open_probes=1)
    fail(breaker)
    clock.now += 4.9
    assert breaker.state is State.OPEN
    clock.now += 0.2
    assert breaker.state is State.HALF_OPEN
    probe = breaker.acquire()
    assert probe is not None
    assert breaker.acquire() is None  # only one probe at a time
    breaker.record(probe, success=True)
    assert breaker.state is State.CLOSED
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]
    succeed(breaker, 3)


def test_a_failed_probe_opens_again_for_another_cool_down() -> None:
    clock = Clock()
    breaker, _ = make(clock, consecutive_failures=1, cool_down=2.0)
    fail(breaker)
    clock.now += 2.0
    assert breaker.state is State.HALF_OPEN
    fail(breaker)
    assert breaker.state is State.OPEN
    assert breaker.retry_in() == pytest.approx(2.0)


def test_half_open_admits_the_configured_number_of_probes() -> None:
    clock = Clock()
    breaker, _ = make(clock, consecutive_failures=1, cool_down=1.0, half_open_probes=2)
    fail(breaker)
    clock.now += 1.0
    first, second = breaker.acquire(), breaker.acquire()
    assert first is not None and second is not None
    assert breaker.acquire() is None
    breaker.release(first)  # a cancelled probe gives its place back
    assert breaker.acquire() is not None


def test_opens_on_failure_ratio_once_enough_requests() -> None:
    clock = Clock()
    breaker, _ = make(
        clock, consecutive_failures=0, failure_ratio=0.5, min_requests=10, window=10.0
    )
    for _ in range(4):  # alternate: never two failures in a row, 50% failed
        succeed(breaker)
        fail(breaker)
    assert breaker.state is State.CLOSED  # 8 requests: below the minimum
    succeed(breaker)
    fail(breaker)
    assert breaker.state is State.OPEN


def test_the_ratio_forgets_calls_older_than_the_window() -> None:
    clock = Clock()
    breaker, _ = make(clock, consecutive_failures=0, failure_ratio=0.5, min_requests=4, window=10.0)
    fail(breaker, 3)
    clock.now += 11.0
    succeed(breaker, 3)
    fail(breaker)  # 1 of 4 in the window
    assert breaker.state is State.CLOSED


def test_outcomes_from_before_a_state_change_are_ignored() -> None:
    clock = Clock()
    breaker, _ = make(clock, consecutive_failures=2, cool_down=1.0)
    slow = breaker.acquire()
    assert slow is not None
    fail(breaker, 2)
    assert breaker.state is State.OPEN
    breaker.record(slow, success=True)  # a call admitted while closed cannot close it
    assert breaker.state is State.OPEN
    clock.now += 1.0
    probe = breaker.acquire()
    assert probe is not None
    breaker.record(slow, success=False)  # nor reopen it from half-open
    assert breaker.state is State.HALF_OPEN
    breaker.record(probe, success=True)
    assert breaker.state is State.CLOSED


def test_window_counts_per_slice() -> None:
    clock = Clock()
    window = Window(10.0, clock=clock)
    window.add()
    window.add(failed=True)
    clock.now += 5.0
    window.add(failed=True)
    assert window.counts() == (3, 2)
    clock.now += 6.0
    assert window.counts() == (1, 1)
    clock.now += 10.0
    assert window.counts() == (0, 0)
