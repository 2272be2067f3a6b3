"""WebSocket routes end to end: a real `covetpy run` on a loopback port and the `websockets`
client, then the same app through `TestClient.websocket_connect`. One server for the module
(the tests do not disturb each other: each uses its own routes or room names)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from covetpy import WebSocketDisconnect
from covetpy.testing import TestClient, WebSocketRejected
from tests.conftest import RunningServer, running_server
from tests.websocket.app import app


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.websocket.app:app") as server:
        yield server


def ws_url(srv: RunningServer, path: str) -> str:
    return f"ws://127.0.0.1:{srv.port}{path}"


def open_ws(srv: RunningServer, path: str, **kwargs: Any) -> ClientConnection:
    # proxy=None: a proxy from the environment must not carry loopback tests.
    ws: ClientConnection = connect(ws_url(srv, path), proxy=None, open_timeout=10, **kwargs)
    return ws


def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Receives until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None, "the server sent no close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


def refused(srv: RunningServer, path: str, **kwargs: Any) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as info:
        open_ws(srv, path, **kwargs)
    response = info.value.response
    return response.status_code, bytes(response.body or b"")


def test_echo_text(srv: RunningServer) -> None:
    with open_ws(srv, "/echo") as ws:
        for text in ["hello", "", "ünïcödé ✓", "x" * 100_000]:
            ws.send(text)
            assert ws.recv(timeout=10) == text


def test_echo_binary(srv: RunningServer) -> None:
    with open_ws(srv, "/echo-bytes") as ws:
        ws.send(b"\x00\x01\x02")
        assert ws.recv(timeout=10) == b"\x02\x01\x00"


def test_typed_json(srv: RunningServer) -> None:
    with open_ws(srv, "/chat") as ws:
        ws.send(msgspec.json.encode({"user": "ann", "text": "hello"}).decode())
        assert msgspec.json.decode(ws.recv(timeout=10)) == {"user": "ann", "length": 5}
        ws.send(b'{"user": "bob", "text": ""}')  # binary JSON is JSON too
        assert msgspec.json.decode(ws.recv(timeout=10)) == {"user": "bob", "length": 0}
        ws.send('{"user": "ann"}')
        assert closed_with(ws) == (1007, "Object missing required field `text`")


def test_the_wrong_message_kind_closes_with_1003(srv: RunningServer) -> None:
    with open_ws(srv, "/echo") as ws:
        ws.send(b"bytes where text is read")
        assert closed_with(ws) == (1003, "expected a text message, got a binary one")


def test_returning_before_accept_is_403(srv: RunningServer) -> None:
    for path in ("/refuse", "/close-first"):
        status, body = refused(srv, path)
        assert status == 403
        assert msgspec.json.decode(body)["detail"] == (
            "the WebSocket handler did not accept the connection"
        )
    assert refused(srv, "/teapot") == (418, b"no sockets here")


def test_http_exception_from_a_dependency_is_the_answer(srv: RunningServer) -> None:
    status, body = refused(srv, "/private")
    assert status == 401
    assert msgspec.json.decode(body)["detail"] == "a valid x-token is required"
    with open_ws(srv, "/private", additional_headers={"x-token": "secret"}) as ws:
        assert ws.recv(timeout=10) == "welcome secret"


def test_parameters(srv: RunningServer) -> None:
    headers = {"x-agent": "pytest", "cookie": "session=abc; other=1"}
    with open_ws(srv, "/params/lobby/5?limit=3&x=y", additional_headers=headers) as ws:
        got = msgspec.json.decode(ws.recv(timeout=10))
    assert got == {
        "room": "lobby",
        "n": 5,
        "limit": 3,
        "agent": "pytest",
        "session": "abc",
        "path_params": {"room": "lobby", "n": 5},
        "query": {"limit": "3", "x": "y"},
        "cookies": {"session": "abc", "other": "1"},
        "path": "/params/lobby/5",
        "url": f"ws://127.0.0.1:{srv.port}/params/lobby/5?limit=3&x=y",
        "client": True,
    }
    status, body = refused(srv, "/params/lobby/5?limit=many")
    assert status == 422
    assert msgspec.json.decode(body)["errors"][0]["location"] == "query.limit"
    assert refused(srv, "/params/lobby/five")[0] == 404


def test_subprotocol_negotiation(srv: RunningServer) -> None:
    with open_ws(srv, "/proto", subprotocols=["v1.chat", "v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.response is not None and ws.response.headers["x-accepted"] == "yes"
        got = msgspec.json.decode(ws.recv(timeout=10))
        assert got == {"offered": ["v1.chat", "v2.chat"], "chosen": "v2.chat"}
    with open_ws(srv, "/proto") as ws:
        assert ws.subprotocol is None
        assert msgspec.json.decode(ws.recv(timeout=10)) == {"offered": [], "chosen": None}


@pytest.mark.parametrize("code", [1000, 1008, 4001])
def test_close_codes_reach_the_client(srv: RunningServer, code: int) -> None:
    with open_ws(srv, f"/close/{code}") as ws:
        assert closed_with(ws) == (code, "bye")


def test_a_handler_exception_closes_with_1011_and_is_logged(srv: RunningServer) -> None:
    with open_ws(srv, "/boom") as ws:
        assert closed_with(ws)[0] == 1011
    srv.wait_for_log("unhandled exception in a WebSocket handler")
    srv.wait_for_log("boom in a WebSocket handler")


def test_dependency_teardown_runs_after_the_close(srv: RunningServer) -> None:
    with open_ws(srv, "/teardown/t1") as ws:
        assert ws.recv(timeout=10) == "resource t1 sync"
        ws.send("done")
        assert closed_with(ws) == (1000, "")
    expected = [
        "enter t1",
        "sync enter t1 /teardown/t1",
        "handler t1 done",
        "sync teardown t1",
        "teardown t1 closed=True",
    ]
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        while True:
            entries = [e for e in http.get("/log").json() if " t1" in e]
            if entries == expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert entries == expected


def test_per_socket_state(srv: RunningServer) -> None:
    with open_ws(srv, "/state") as one, open_ws(srv, "/state") as two:
        one.send("a")
        one.send("b")
        two.send("c")
        assert [one.recv(timeout=10), one.recv(timeout=10), two.recv(timeout=10)] == [
            "1",
            "2",
            "1",
        ]


def test_broadcast_reaches_the_topics_subscribers_only(srv: RunningServer) -> None:
    with (
        open_ws(srv, "/room/r1") as a,
        open_ws(srv, "/room/r1") as b,
        open_ws(srv, "/room/r2") as c,
    ):
        for ws in (a, b, c):
            assert ws.recv(timeout=10) == "joined"
        a.send("hi")
        message = {"from": "r1", "text": "hi"}
        assert msgspec.json.decode(a.recv(timeout=10)) == message
        assert msgspec.json.decode(b.recv(timeout=10)) == message
        c.send("own")  # c's next message is its own room's, not r1's
        assert msgspec.json.decode(c.recv(timeout=10)) == {"from": "r2", "text": "own"}


def test_a_plain_http_request_to_a_websocket_route_is_told_to_upgrade(
    srv: RunningServer,
) -> None:
    r = httpx.get(f"{srv.url}/echo", timeout=10)
    assert r.status_code == 426
    assert r.headers["upgrade"] == "websocket"


# -- TestClient.websocket_connect ---------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_test_client_echo(client: TestClient) -> None:
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
    with client.websocket_connect("/echo-bytes") as ws:
        ws.send_bytes(b"ab")
        assert ws.receive_bytes() == b"ba"
    with client.websocket_connect("/chat") as ws:
        ws.send_json({"user": "u", "text": "abc"})
        assert ws.receive_json() == {"user": "u", "length": 3}
        ws.send_json({"user": "u", "text": "abc"}, mode="binary")
        assert ws.receive_json() == {"user": "u", "length": 3}


def test_test_client_refusals(client: TestClient) -> None:
    with pytest.raises(WebSocketRejected) as info, client.websocket_connect("/refuse"):
        pass
    assert info.value.status_code == 403
    assert info.value.response.json()["status"] == 403
    with pytest.raises(WebSocketRejected) as info, client.websocket_connect("/private"):
        pass
    assert info.value.status_code == 401
    with client.websocket_connect("/private", headers={"x-token": "secret"}) as ws:
        assert ws.receive_text() == "welcome secret"


def test_test_client_close_codes_and_params(client: TestClient) -> None:
    with client.websocket_connect("/close/4001") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive()
        assert (info.value.code, info.value.reason) == (4001, "bye")
    client.cookies.set("session", "from-the-jar")
    try:
        with client.websocket_connect("/params/r/1", headers={"x-agent": "tc"}) as ws:
            got = ws.receive_json()
    finally:
        client.cookies.clear()
    assert (got["session"], got["agent"], got["n"]) == ("from-the-jar", "tc", 1)
    with client.websocket_connect("/proto", subprotocols=["v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.response_headers["x-accepted"] == "yes"
        assert ws.receive_json()["chosen"] == "v2.chat"


def test_the_served_openapi_document_has_no_websocket_route(srv: RunningServer) -> None:
    document = httpx.get(f"{srv.url}/openapi.json", timeout=10).json()
    assert list(document["paths"]) == ["/log"]
