"""Auth through `covetpy run` on a loopback port with real clients: httpx (HTTP/1.1 and
HTTP/2 prior knowledge), `websockets` with the token in a header, a cookie, or the
`Sec-WebSocket-Protocol` list; API keys (a revoked one is refused); a mounted ASGI app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.auth.app import SECRET
from tests.conftest import RunningServer, running_server


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.auth.app:app") as server:
        yield server


def token(**claims: Any) -> str:
    body = {
        "sub": "alice",
        "iss": "https://id",
        "aud": "shop",
        "exp": int(time.time()) + 600,
        "scope": "orders:read",
    }
    body.update(claims)
    return jwt.encode(body, SECRET, algorithm="HS256")


def url(srv: RunningServer, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def test_bearer_and_api_keys_over_http1(srv: RunningServer) -> None:
    with httpx.Client(trust_env=False) as c:
        r = c.get(url(srv, "/me"), headers={"authorization": f"Bearer {token()}"})
        assert r.json() == {"scheme": "jwt", "sub": "alice", "scopes": ["orders:read"]}
        r = c.get(url(srv, "/me"), headers={"x-api-key": "ci-key-1"})
        assert r.json() == {"scheme": "api_key", "sub": "ci", "scopes": ["deploy"]}
        assert c.post(url(srv, "/deploy"), headers={"x-api-key": "ci-key-1"}).status_code == 200
        r = c.post(url(srv, "/deploy"), headers={"x-api-key": "ops-key-1"})
        assert r.status_code == 403
        r = c.get(url(srv, "/me"), headers={"x-api-key": "revoked-key"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('ApiKey realm="shop", header="x-api-key"')
        # No credential: every layer challenges (RFC 9110 §11.6.1).
        r = c.get(url(srv, "/me"))
        assert r.status_code == 401
        assert r.headers.get_list("www-authenticate") == [
            'Bearer realm="shop"',
            'ApiKey realm="shop", header="x-api-key"',
        ]
        assert c.get(url(srv, "/health")).status_code == 200


def test_a_refused_post_is_answered_without_reading_the_body(srv: RunningServer) -> None:
    with httpx.Client(trust_env=False) as c:
        r = c.post(
            url(srv, "/deploy"), content=b"x" * 1_000_000, headers={"authorization": "Bearer nope"}
        )
        assert r.status_code == 401


def test_mounted_apps_are_protected(srv: RunningServer) -> None:
    with httpx.Client(trust_env=False) as c:
        assert c.get(url(srv, "/legacy/x")).status_code == 401
        r = c.get(url(srv, "/legacy/x"), headers={"authorization": f"Bearer {token()}"})
        assert r.status_code == 200 and r.text == "legacy"


def test_http2_streams_are_authenticated(srv: RunningServer) -> None:
    with httpx.Client(http1=False, http2=True, trust_env=False) as c:
        r = c.get(url(srv, "/me"), headers={"authorization": f"Bearer {token()}"})
        assert r.http_version == "HTTP/2" and r.status_code == 200
        r = c.get(url(srv, "/me"), headers={"authorization": f"Bearer {token(exp=1)}"})
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


def ws(srv: RunningServer, **kwargs: Any) -> str:
    with connect(f"ws://127.0.0.1:{srv.port}/ws", proxy=None, open_timeout=10, **kwargs) as s:
        message = s.recv(timeout=10)
        assert isinstance(message, str)
        return message


def test_websocket_with_the_token_in_a_header_cookie_or_subprotocol(srv: RunningServer) -> None:
    assert ws(srv, additional_headers={"authorization": f"Bearer {token()}"}) == "hello alice"
    assert ws(srv, additional_headers={"cookie": f"access_token={token()}"}) == "hello alice"
    # Browsers cannot set headers on a WebSocket: the token rides in the protocol list.
    assert ws(srv, subprotocols=["chat", f"bearer.{token()}"]) == "hello alice"  # type: ignore[list-item]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"additional_headers": {"authorization": f"Bearer {token(exp=1)}"}},
        {"subprotocols": ["chat", "bearer.forged.token.here"]},
    ],
)
def test_websocket_upgrades_without_a_valid_token_are_refused(
    srv: RunningServer, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidStatus) as info:
        ws(srv, **kwargs)
    assert info.value.response.status_code == 401
