"""Status helpers: 503/429 with Retry-After as RFC 9457 problems, failing health checks."""

from __future__ import annotations

import json

import pytest

from covetpy.mesh.status import (
    HEALTH_CHECK_FAIL_HEADER,
    fail_health_checks,
    overloaded,
    rate_limited,
)
from covetpy.responses import JSONResponse


def test_overloaded() -> None:
    response = overloaded()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    doc = json.loads(response.body)
    assert doc["status"] == 503
    assert doc["title"] == "Service Unavailable"
    assert doc["type"] == "about:blank"
    assert doc["detail"]
    assert json.loads(overloaded(3, detail="queue full").body)["detail"] == "queue full"


def test_rate_limited_rounds_retry_after_up() -> None:
    response = rate_limited(2.1)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert json.loads(response.body)["title"] == "Too Many Requests"
    assert rate_limited(0).headers["retry-after"] == "0"


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_retry_after_must_be_a_non_negative_number(bad: float) -> None:
    with pytest.raises(ValueError):
        overloaded(bad)


def test_fail_health_checks() -> None:
    response = JSONResponse({"status": "draining"}, status_code=503)
    assert fail_health_checks(response) is response
    assert response.headers[HEALTH_CHECK_FAIL_HEADER] == "true"
    assert HEALTH_CHECK_FAIL_HEADER == "x-envoy-immediate-health-check-fail"
