"""A FastAPI app served by `covetpy run` answers as it does under uvicorn (a differential test),
and its lifespan, background tasks, uploads, streams and WebSocket work."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import RunningServer
from tests.hosting.asgi_compare import Call, compare
from tests.hosting.conftest import covetpy_server, uvicorn_server

APP = "tests.hosting.apps.fastapi_app:app"
UPLOAD = os.urandom(300_000)

CALLS = [
    Call("GET", "/"),
    Call("GET", "/plain"),
    Call("HEAD", "/plain"),
    Call("GET", "/items/42?q=x&offset=5"),
    Call("GET", "/items/not-a-number"),
    Call(
        "POST",
        "/items",
        {"json": {"name": "pen", "price": 1.5, "tags": ["a"]}, "headers": {"x-token": "secret"}},
    ),
    Call("POST", "/items", {"json": {"name": "", "price": -1}, "headers": {"x-token": "secret"}}),
    Call(
        "POST",
        "/items",
        {
            "content": b"{not json",
            "headers": {"x-token": "secret", "content-type": "application/json"},
        },
    ),
    Call("POST", "/items", {"json": {"name": "pen", "price": 1}}),
    Call(
        "POST",
        "/upload",
        {"files": {"file": ("blob.bin", UPLOAD, "application/x-blob")}, "data": {"note": "hi"}},
    ),
    Call("POST", "/upload", {"data": {"note": "no file"}}),
    Call("GET", "/stream?n=50"),
    Call("GET", "/file"),
    Call("GET", "/file", {"headers": {"range": "bytes=10-19"}}),
    Call("GET", "/state"),
    Call("GET", "/cookie"),
    Call("GET", "/teapot"),
    Call("GET", "/missing"),
    Call("GET", "/crash"),
    Call("GET", "/redirect"),
    Call("GET", "/nowhere"),
    Call("DELETE", "/"),
    Call("GET", "/openapi.json"),
    Call("GET", "/docs"),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    with covetpy_server(APP) as ours, uvicorn_server(APP) as theirs:
        yield ours, theirs


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_same_answer_as_uvicorn(servers: tuple[RunningServer, RunningServer], call: Call) -> None:
    compare(call, *servers)


def test_upload_reaches_the_app(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    r = httpx.post(
        f"{ours.url}/upload",
        files={"file": ("blob.bin", UPLOAD, "application/x-blob")},
        data={"note": "n"},
    )
    assert r.json()["size"] == len(UPLOAD) and r.json()["filename"] == "blob.bin"


def test_background_task_runs_after_the_response(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    ours, _ = servers
    assert httpx.post(f"{ours.url}/background?word=fastapi-bg").json() == {"queued": "fastapi-bg"}
    deadline = time.monotonic() + 30
    while "fastapi-bg" not in httpx.get(f"{ours.url}/background-log").json():
        assert time.monotonic() < deadline, "background task never ran"
        time.sleep(0.02)


def test_crash_is_logged(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    assert httpx.get(f"{ours.url}/crash").status_code == 500
    ours.wait_for_log("RuntimeError: unhandled")


def test_websocket_with_lifespan_state(servers: tuple[RunningServer, RunningServer]) -> None:
    for server in servers:
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            ws.send(json.dumps({"n": 1}))
            assert json.loads(ws.recv(timeout=10)) == {
                "echo": {"n": 1},
                "greeting": "hello from lifespan",
            }
            ws.send(json.dumps([1, 2]))
            assert json.loads(ws.recv(timeout=10))["echo"] == [1, 2]


def test_streaming_response_is_chunked(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    with httpx.stream("GET", f"{ours.url}/stream?n=3") as r:
        assert r.headers.get("transfer-encoding") == "chunked"
        assert r.read() == b"line 0\nline 1\nline 2\n"


def wait_logged(server: RunningServer, word: str) -> None:
    deadline = time.monotonic() + 30
    while word not in httpx.get(f"{server.url}/background-log").json():
        assert time.monotonic() < deadline, f"{word!r} never recorded"
        time.sleep(0.02)


def test_client_gone_mid_stream_ends_the_generator(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    ours, _ = servers
    before = ours.log.count("Traceback")
    with httpx.stream("GET", f"{ours.url}/forever") as r:
        for _ in r.iter_bytes():
            break
    # Promptly, not at some later garbage collection: the generator holds the app's resources.
    wait_logged(ours, "forever-closed")
    # The app ended quietly: a client going away is not an error.
    assert ours.log.count("Traceback") == before


def test_websocket_disconnect_reaches_the_app(servers: tuple[RunningServer, RunningServer]) -> None:
    ours, _ = servers
    with connect(f"ws://127.0.0.1:{ours.port}/ws") as ws:
        ws.send(json.dumps(0))
        ws.recv(timeout=10)
    wait_logged(ours, "ws-disconnect")
