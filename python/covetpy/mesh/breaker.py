"""A circuit breaker per upstream: pure logic, driven by the client and an injectable clock.

Closed: calls pass; the breaker opens after `consecutive_failures` failures in a row, or when
at least `min_requests` calls in the last `window` seconds failed `failure_ratio` of the time.
Open: calls fail fast (`CircuitOpen`) for `cool_down` seconds. Half-open: up to
`half_open_probes` calls go through at once; the first success closes the breaker, a failure
opens it again for another cool-down.

A failure is a 5xx answer or a transport error; a 4xx is the upstream working as intended.
Outcomes of calls admitted before the last state change are ignored (`acquire` hands out a
permit naming the state it was issued under), so a slow call from before the breaker opened
cannot close it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["BreakerPolicy", "CircuitBreaker", "State", "Window"]


class State(IntEnum):
    """Breaker state; the value is what `covetpy_circuit_breaker_state` reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers."""

    consecutive_failures: int = 5
    """Failures in a row that open the breaker (0 turns this rule off)."""
    failure_ratio: float = 0.5
    """Share of failed calls over `window` that opens the breaker (above 1 turns it off)."""
    window: float = 10.0
    """Seconds of history the failure ratio is computed over."""
    min_requests: int = 20
    """Calls needed in the window before the ratio counts."""
    cool_down: float = 5.0
    """Seconds the breaker stays open before letting probes through."""
    half_open_probes: int = 1
    """Calls let through at once while half-open."""


class _Slice:
    __slots__ = ("failures", "start", "total")

    def __init__(self, start: float) -> None:
        self.start = start
        self.total = 0
        self.failures = 0


class Window:
    """Counts of events over the last `span` seconds, in `buckets` slices (so it forgets a
    slice at a time rather than keeping a timestamp per event)."""

    __slots__ = ("_buckets", "_clock", "_width", "failures", "span", "total")

    def __init__(
        self, span: float, *, buckets: int = 10, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.span = span
        self._width = span / buckets
        self._clock = clock
        self._buckets: deque[_Slice] = deque()
        self.total = 0
        self.failures = 0

    def add(self, *, failed: bool = False) -> None:
        """Counts one event (one failure when `failed`)."""
        now = self._expire()
        start = math.floor(now / self._width) * self._width
        if not self._buckets or self._buckets[-1].start != start:
            self._buckets.append(_Slice(start))
        bucket = self._buckets[-1]
        bucket.total += 1
        self.total += 1
        if failed:
            bucket.failures += 1
            self.failures += 1

    def counts(self) -> tuple[int, int]:
        """(events, failures) over the last `span` seconds."""
        self._expire()
        return self.total, self.failures

    def clear(self) -> None:
        """Forgets everything."""
        self._buckets.clear()
        self.total = self.failures = 0

    def _expire(self) -> float:
        now = self._clock()
        while self._buckets and self._buckets[0].start + self._width <= now - self.span:
            old = self._buckets.popleft()
            self.total -= old.total
            self.failures -= old.failures
        return now


class CircuitBreaker:
    """The breaker of one upstream. `acquire` before a call, then `record` its outcome (or
    `release` the permit when the call ended without one, e.g. cancelled)."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self.policy = policy if policy is not None else BreakerPolicy()
        self._clock = clock
        self._on_change = on_change
        self._state = State.CLOSED
        self._generation = 0
        self._consecutive = 0
        self._window = Window(self.policy.window, clock=clock)
        self._opened_at = 0.0
        self._probes = 0

    @property
    def state(self) -> State:
        """The current state (an open breaker turns half-open once its cool-down is over)."""
        if self._state is State.OPEN and self._clock() >= self._opened_at + self.policy.cool_down:
            self._move(State.HALF_OPEN)
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0.0 unless open)."""
        if self.state is not State.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.policy.cool_down - self._clock())

    def acquire(self) -> int | None:
        """Admits a call: a permit to hand back to `record`/`release`, or None to fail fast."""
        state = self.state
        if state is State.OPEN:
            return None
        if state is State.HALF_OPEN:
            if self._probes >= self.policy.half_open_probes:
                return None
            self._probes += 1
        return self._generation

    def record(self, permit: int, *, success: bool) -> None:
        """The outcome of a call admitted with `permit`."""
        if permit != self._generation:
            return  # admitted under an earlier state: says nothing about this one
        if self._state is State.HALF_OPEN:
            self._probes -= 1
            self._move(State.CLOSED if success else State.OPEN)
            return
        if success:
            self._consecutive = 0
            self._window.add()
            return
        self._consecutive += 1
        self._window.add(failed=True)
        total, failures = self._window.counts()
        p = self.policy
        if (p.consecutive_failures and self._consecutive >= p.consecutive_failures) or (
            total >= p.min_requests and failures >= p.failure_ratio * total
        ):
            self._move(State.OPEN)

    def release(self, permit: int) -> None:
        """Returns a permit whose call ended without an outcome."""
        if permit == self._generation and self._state is State.HALF_OPEN:
            self._probes -= 1

    def _move(self, state: State) -> None:
        self._state = state
        self._generation += 1
        self._consecutive = 0
        self._probes = 0
        self._window.clear()
        if state is State.OPEN:
            self._opened_at = self._clock()
        if self._on_change is not None:
            self._on_change(state)
