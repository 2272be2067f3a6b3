"""Brokers for the task tests: memory, and a redis-server of the module's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from covetpy.events.testing import LocalServer, redis_server


@pytest.fixture(scope="session")
def redis() -> Iterator[LocalServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """A broker URL no other test shares (its own key prefix); `visibility=1` so that a run
    held by a dead worker is taken over within a second."""
    if request.param == "memory":
        return "memory://"
    server: LocalServer = request.getfixturevalue("redis")
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:10]}&visibility=1"
