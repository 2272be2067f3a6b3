"""Retry rules: what is retried, how long to wait, and the budget."""

from __future__ import annotations

import email.utils
import random

import httpx
import pytest

from covetpy.mesh.retry import (
    RetryBudget,
    RetryPolicy,
    backoff,
    is_idempotent,
    next_wait,
    parse_retry_after,
    retry_reason,
)

NOW = 1_700_000_000.0  # a fixed Unix time for HTTP-date arithmetic


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", "get"])
def test_idempotent_methods(method: str) -> None:
    assert is_idempotent(method, httpx.Headers())


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT"])
def test_other_methods_are_not_idempotent_unless_told(method: str) -> None:
    assert not is_idempotent(method, httpx.Headers())
    assert is_idempotent(method, httpx.Headers({"Idempotency-Key": "k1"}))
    assert is_idempotent(method, httpx.Headers(), idempotent=True)


def test_the_callers_say_wins() -> None:
    assert not is_idempotent("GET", httpx.Headers(), idempotent=False)


def test_retry_after_delay_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        email.utils.formatdate(NOW + 30, usegmt=True),  # IMF-fixdate
        "Tuesday, 14-Nov-23 22:13:50 GMT",  # obsolete RFC 850 form
        "Tue Nov 14 22:13:50 2023",  # asctime, no zone: GMT
    ],
)
def test_retry_after_http_date(text: str) -> None:
    assert parse_retry_after(text, now=NOW) == pytest.approx(30.0)


def test_retry_after_in_the_past_is_no_wait() -> None:
    assert parse_retry_after(email.utils.formatdate(NOW - 60, usegmt=True), now=NOW) == 0.0


@pytest.mark.parametrize("text", ["", "soon", "-5", "1.5", "Mon, 99 Foo 2023"])
def test_invalid_retry_after_is_ignored(text: str) -> None:
    assert parse_retry_after(text, now=NOW) is None


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(backoff_base=0.1, backoff_cap=0.5)
    calls: list[tuple[float, float]] = []

    def uniform(a: float, b: float) -> float:
        calls.append((a, b))
        return b

    assert [backoff(policy, n, uniform=uniform) for n in range(5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5]
    )
    assert all(a == 0.0 for a, _ in calls)
    rng = random.Random(7)
    waits = [backoff(policy, 2, uniform=rng.uniform) for _ in range(500)]
    assert all(0.0 <= w <= 0.4 for w in waits)
    assert min(waits) < 0.05 and max(waits) > 0.35  # spread over the whole range


def test_next_wait_takes_retry_after_as_the_minimum() -> None:
    policy = RetryPolicy(max_retries=3, backoff_base=0.1)
    assert next_wait(policy, 0, retry_after=2.0, uniform=lambda a, b: b) == 2.0
    assert next_wait(policy, 0, retry_after=0.0, uniform=lambda a, b: b) == 0.1


def test_next_wait_gives_up() -> None:
    policy = RetryPolicy(max_retries=2, max_wait=5.0)
    assert next_wait(policy, 2) is None  # retries spent
    assert next_wait(policy, 0, retry_after=6.0) is None  # asks for more than max_wait
    assert next_wait(policy, 0, retry_after=1.0, remaining=0.5) is None  # past the deadline
    assert next_wait(policy, 0, retry_after=1.0, remaining=3.0) == 1.0


def test_retry_reasons() -> None:
    p = RetryPolicy()
    request = httpx.Request("GET", "http://x/")
    assert retry_reason(p, status=503) == "503"
    assert retry_reason(p, status=502) == "502"
    assert retry_reason(p, status=504) == "504"
    assert retry_reason(p, status=500) is None
    assert retry_reason(p, status=404) is None
    assert retry_reason(p, status=429) is None
    assert retry_reason(p, status=429, retry_after=1.0) == "429"
    assert retry_reason(p, error=httpx.ConnectError("refused", request=request)) == "ConnectError"
    assert retry_reason(p, error=httpx.RemoteProtocolError("gone", request=request)) == (
        "RemoteProtocolError"
    )
    assert retry_reason(p, error=httpx.ReadTimeout("slow", request=request)) is None


def test_budget_allows_ratio_of_requests_plus_a_floor() -> None:
    clock = Clock()
    budget = RetryBudget(
        RetryPolicy(budget_ratio=0.2, budget_min_per_second=0.1, budget_window=10.0),
        clock=clock,
    )
    for _ in range(10):
        budget.request()
    # 0.2 x 10 requests + 0.1/s x 10 s = 3 retries
    assert [budget.try_retry() for _ in range(4)] == [True, True, True, False]
    clock.now += 11.0  # the window has moved on: requests and retries forgotten
    assert [budget.try_retry() for _ in range(2)] == [True, False]
