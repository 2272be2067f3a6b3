"""End-to-end HTTP/1.1 conformance: raw bytes on a socket against a running `covetpy run`.

Every test names the part of RFC 9110 (semantics) or RFC 9112 (HTTP/1.1 messaging) it pins.
The server runs once per test module (each starts in well under a second) with the limits in
`helpers.LIMIT_ARGS`: 1 s header/body/keep-alive timeouts, 1024-byte bodies, a 256-byte request
line, a 2048-byte head and at most 20 header fields. After every test the server must still
answer a plain GET on a new connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.helpers import LIMIT_ARGS, assert_alive, launch, stop
from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One basic-app server for the whole module (overrides conftest's per-test `server`)."""
    s = launch("tests.apps.basic:app", *LIMIT_ARGS)
    yield s
    stop(s)


@pytest.fixture(autouse=True)
def _server_still_alive(server: RunningServer) -> Iterator[None]:
    """Whatever a test sent, the server must still answer a normal request afterwards."""
    yield
    assert_alive(server)
