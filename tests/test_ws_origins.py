"""`WebSocketOrigins` (issue 15): a WebSocket upgrade from a foreign `Origin` is refused 403 in
Rust, before routing, so a plain HTTP route at the path stands in for the WebSocket route."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from covetpy import App
from covetpy.exceptions import CovetError
from covetpy.middleware.builtin import WebSocketOrigins
from covetpy.testing import TestClient
from tests.conftest import RunningServer, read_response, running_server


@pytest.fixture(scope="module")
def listed() -> Iterator[RunningServer]:
    with running_server("tests.apps.ws_origins:listed") as server:
        yield server


@pytest.fixture(scope="module")
def same() -> Iterator[RunningServer]:
    with running_server("tests.apps.ws_origins:same") as server:
        yield server


def upgrade(
    srv: RunningServer,
    origin: str | None,
    host: str = "api.example.com",
    upgrade: str = "websocket",
) -> tuple[int, dict[str, str], bytes]:
    """A WebSocket opening handshake (RFC 6455 §4.1) over a raw socket; the answer's head."""
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}",
        f"Upgrade: {upgrade}",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with srv.connect() as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_response(s)


def test_foreign_origin_is_refused_with_a_problem(listed: RunningServer) -> None:
    status, headers, body = upgrade(listed, "https://evil.example")
    assert status == 403
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 403
    assert "https://evil.example" in problem["detail"]


@pytest.mark.parametrize(
    "origin",
    ["http://app.example.com", "https://app.example.com:8443", "null", "http://localhost:8001"],
)
def test_near_misses_are_refused(listed: RunningServer, origin: str) -> None:
    assert upgrade(listed, origin)[0] == 403


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "HTTPS://APP.example.com:443", "http://localhost:8000"]
)
def test_listed_origins_pass_the_middleware(listed: RunningServer, origin: str) -> None:
    # Until WebSocket routes exist the plain route answers; what matters is no 403.
    assert upgrade(listed, origin)[0] != 403


def test_upgrade_token_is_case_insensitive(listed: RunningServer) -> None:
    assert upgrade(listed, "https://evil.example", upgrade="WebSocket")[0] == 403


def test_no_origin_passes(listed: RunningServer) -> None:
    assert upgrade(listed, None)[0] != 403


def test_plain_requests_are_not_checked(listed: RunningServer) -> None:
    with listed.connect() as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n")
        status, _, body = read_response(s)
    assert (status, body) == (200, b"plain")


def test_default_allows_same_origin_only(same: RunningServer) -> None:
    host = f"127.0.0.1:{same.port}"
    assert upgrade(same, f"http://{host}", host=host)[0] != 403
    assert upgrade(same, f"http://127.0.0.1:{same.port + 1}", host=host)[0] == 403
    assert upgrade(same, "https://app.example.com", host=host)[0] == 403
    assert upgrade(same, "https://app.example.com", host="app.example.com")[0] != 403


def test_bad_entries_are_refused_at_start() -> None:
    app = App(openapi_url=None, middleware=[WebSocketOrigins(["app.example.com"])])
    with pytest.raises(CovetError, match=r"app\.example\.com"):
        TestClient(app)


def test_spec_and_description() -> None:
    assert WebSocketOrigins().spec() == {"kind": "websocket_origins", "allow": None}
    assert WebSocketOrigins("https://a.example").spec()["allow"] == ("https://a.example",)
    assert WebSocketOrigins(["*"]).describe() == "[rust] WebSocketOrigins(allow=('*',))"
