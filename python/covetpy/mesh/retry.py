"""When and how long to wait before retrying an outbound call.

Only idempotent requests are retried (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE,
TRACE), or those the caller marks so (`idempotent=True`, or an `Idempotency-Key` header), and
only after a transport error that leaves the upstream's state unknown but harmless to repeat,
or a 502/503/504 (429 too when the upstream says when to come back with `Retry-After`).

Waits use full jitter, `uniform(0, min(cap, base * 2**attempt))`, so callers that failed
together do not retry together; a `Retry-After` is the minimum wait. A retry budget per
upstream caps retries at `budget_ratio` of recent requests plus a small floor per second, so
a sick upstream sees about (1 + ratio)x its normal load rather than (1 + max_retries)x.
"""

from __future__ import annotations

import email.utils
import functools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

from covetpy.mesh.breaker import Window

if TYPE_CHECKING:
    import httpx

__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryBudget",
    "RetryPolicy",
    "backoff",
    "is_idempotent",
    "next_wait",
    "parse_retry_after",
    "retry_after_of",
    "retry_reason",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@functools.cache
def _retryable_errors() -> tuple[type[Exception], ...]:
    """Errors after which the request may or may not have reached the upstream; repeating an
    idempotent request is harmless either way. Read timeouts are left out on purpose: the
    upstream is slow, not gone, and a retry would double its load at the worst moment."""
    try:
        import httpx
    except ImportError:  # without the mesh extra no error can be one of httpx's
        return ()
    return (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the client retries."""

    max_retries: int = 2
    """Retries after the first attempt."""
    backoff_base: float = 0.025
    """Seconds; the first retry waits up to this, each further one up to twice the last."""
    backoff_cap: float = 1.0
    """Seconds; the most any backoff waits (a `Retry-After` may ask for more)."""
    max_wait: float = 10.0
    """Give up rather than wait longer than this for one retry (e.g. a long `Retry-After`)."""
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({502, 503, 504}))
    """Statuses retried (429 is retried only with a `Retry-After`, whatever this says)."""
    budget_ratio: float = 0.2
    """Retries allowed per request seen over `budget_window`."""
    budget_min_per_second: float = 10.0
    """Retries always allowed per second, so a quiet upstream can still be retried."""
    budget_window: float = 10.0
    """Seconds of history the budget counts over."""


def is_idempotent(method: str, headers: httpx.Headers, idempotent: bool | None = None) -> bool:
    """Whether a request may be sent twice: the caller's say (`idempotent`) wins, then an
    `Idempotency-Key` header, then the method."""
    if idempotent is not None:
        return idempotent
    return "idempotency-key" in headers or method.upper() in IDEMPOTENT_METHODS


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date, compared with `now`, Unix time); None when it is neither."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime has no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def retry_after_of(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The `Retry-After` of a response in seconds, if it has a valid one."""
    value = headers.get("retry-after")
    return None if value is None else parse_retry_after(value, now=now)


def retry_reason(
    policy: RetryPolicy,
    *,
    status: int | None = None,
    error: BaseException | None = None,
    retry_after: float | None = None,
) -> str | None:
    """Why an attempt that ended with `status` or `error` should be retried (the status, or
    the error's class name, as the metrics' `reason`), or None if it should not."""
    if error is not None:
        return type(error).__name__ if isinstance(error, _retryable_errors()) else None
    if status is None:
        return None
    if status == 429:
        return "429" if retry_after is not None else None
    return str(status) if status in policy.statuses else None


def backoff(
    policy: RetryPolicy,
    attempt: int,
    *,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Full-jitter backoff before retry number `attempt` (0 for the first retry)."""
    return uniform(0.0, min(policy.backoff_cap, policy.backoff_base * 2**attempt))


def next_wait(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after: float | None = None,
    remaining: float | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds to wait before retry number `attempt` (0 for the first), or None to give up:
    retries are spent, the upstream asks for more than `max_wait`, or the wait would use up
    what `remaining` of the deadline is left."""
    if attempt >= policy.max_retries:
        return None
    wait = backoff(policy, attempt, uniform=uniform)
    if retry_after is not None:
        if retry_after > policy.max_wait:
            return None
        wait = max(wait, retry_after)
    if remaining is not None and wait >= remaining:
        return None
    return wait


class RetryBudget:
    """Retries an upstream may take: at most `budget_ratio` x requests plus
    `budget_min_per_second` x `budget_window`, both over the last `budget_window` seconds."""

    def __init__(self, policy: RetryPolicy, *, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self._requests = Window(policy.budget_window, clock=clock)
        self._retries = Window(policy.budget_window, clock=clock)

    def request(self) -> None:
        """Counts a call (its first attempt; retries are not requests)."""
        self._requests.add()

    def try_retry(self) -> bool:
        """Takes one retry from the budget; False when it is spent."""
        p = self.policy
        requests, _ = self._requests.counts()
        retries, _ = self._retries.counts()
        allowed = p.budget_ratio * requests + p.budget_min_per_second * p.budget_window
        if retries + 1 > allowed:
            return False
        self._retries.add()
        return True
