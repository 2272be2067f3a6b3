"""A Starlette app served by `covetpy run` answers as it does under uvicorn (a differential
test): routing, a mounted sub-app, middleware (BaseHTTPMiddleware, GZip), forms, streamed
request and response bodies, cookies, background tasks, a WebSocket."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningServer
from tests.hosting.asgi_compare import Call, compare
from tests.hosting.conftest import covetpy_server, uvicorn_server

APP = "tests.hosting.apps.starlette_app:app"
BLOB = os.urandom(2 * 1024 * 1024 + 3)

CALLS = [
    Call("GET", "/"),
    Call("HEAD", "/"),
    Call("GET", "/users/12?a=1&b=two"),
    Call("GET", "/users/abc"),
    Call("POST", "/form", {"data": {"name": "x y", "n": "1"}}),
    Call("POST", "/digest", {"content": BLOB}),
    # A list, not an iterator: sent chunked, and re-iterable for the second server.
    Call("POST", "/digest", {"content": [BLOB[:1000], BLOB[1000:]]}),
    Call("GET", "/big"),
    Call("GET", "/big", {"headers": {"accept-encoding": "identity"}}),
    Call("GET", "/numbers"),
    Call("GET", "/cookies", {"headers": {"cookie": "a=1"}}),
    Call("GET", "/sub/where?x=1"),
    Call("GET", "/post-only"),
    Call("GET", "/nothing-here"),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    with covetpy_server(APP) as ours, uvicorn_server(APP) as theirs:
        yield ours, theirs


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_same_answer_as_uvicorn(servers: tuple[RunningServer, RunningServer], call: Call) -> None:
    compare(call, *servers)


def test_request_stream_reaches_the_app(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    r = httpx.post(f"{ours.url}/digest", content=BLOB)
    assert r.json() == {"bytes": len(BLOB), "sha256": hashlib.sha256(BLOB).hexdigest()}


def test_gzip_middleware(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    r = httpx.get(f"{ours.url}/big", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.text.startswith("all work")


def test_background_task(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    assert httpx.get(f"{ours.url}/later").text == "queued"
    deadline = time.monotonic() + 30
    while "later" not in httpx.get(f"{ours.url}/done").json():
        assert time.monotonic() < deadline, "background task never ran"
        time.sleep(0.02)


def test_websocket_subprotocol_and_echo(servers: tuple[RunningServer, RunningServer]) -> None:
    for server in servers:
        with connect(f"ws://127.0.0.1:{server.port}/ws", subprotocols=[Subprotocol("v1")]) as ws:
            assert ws.subprotocol == "v1"
            ws.send("abc")
            assert ws.recv(timeout=10) == "ABC"
