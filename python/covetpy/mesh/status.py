"""Answers that tell callers and the mesh how to treat this service when it is struggling.

A 503 with `Retry-After` says "overloaded, come back later": `covetpy.mesh.Client` and Envoy
retry it (after at least that long) on another instance. A 429 with `Retry-After` says "you
are sending too much": the client retries it only because the wait is given. Both are RFC 9457
problem documents, like every error CovetPy renders. `fail_health_checks` marks a response so
that an Envoy with active health checking takes this instance out of rotation at once.
"""

from __future__ import annotations

import math

from covetpy._bridge import problem
from covetpy.responses import Response

__all__ = ["HEALTH_CHECK_FAIL_HEADER", "fail_health_checks", "overloaded", "rate_limited"]

HEALTH_CHECK_FAIL_HEADER = "x-envoy-immediate-health-check-fail"
"""Set on any response, it makes Envoy fail this host's active health check immediately."""


def _retry_after(seconds: float) -> dict[str, str]:
    # RFC 9110 §10.2.3: delay-seconds is a whole number; round up so callers never come early.
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"retry_after must be a number of seconds >= 0, got {seconds!r}")
    return {"retry-after": str(math.ceil(seconds))}


def overloaded(
    retry_after: float = 1.0,
    detail: str = "The service is overloaded; retry later.",
) -> Response:
    """503 Service Unavailable with `Retry-After` (seconds, rounded up)."""
    return problem(503, "Service Unavailable", detail, _retry_after(retry_after))


def rate_limited(
    retry_after: float,
    detail: str = "Too many requests; retry later.",
) -> Response:
    """429 Too Many Requests with `Retry-After` (seconds, rounded up)."""
    return problem(429, "Too Many Requests", detail, _retry_after(retry_after))


def fail_health_checks(response: Response) -> Response:
    """Adds `x-envoy-immediate-health-check-fail` to `response` (and returns it)."""
    response.set_header(HEALTH_CHECK_FAIL_HEADER, "true")
    return response
