"""HTTP/2 end to end (RFC 9113, RFC 7541; issue 17): raw frames against a running `covetpy run`
(test_conformance.py, test_attacks.py), real clients (test_clients.py: httpx, curl, h2load) and
Envoy with an h2c upstream (test_envoy_h2c.py).

The servers run tests/http2/app.py on free loopback ports. A module's `server` is started once
for the module (cleartext, `--http auto`: HTTP/1.1 and prior-knowledge h2c on one port) and
must exit 0 when drained at the end; tests needing other options start their own with
`start_server`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningServer, running_server

APP = "tests.http2.app:app"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One server for the module: the HTTP/2 app, one worker, default HTTP/2 settings."""
    with running_server(APP, "--workers", "1") as s:
        yield s
