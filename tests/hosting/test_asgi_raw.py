"""The ASGI 3 scope and message rules (ASGI spec 2.4, https://asgi.readthedocs.io/en/latest/specs/www.html),
one test per rule, each through a real server: `covetpy run tests.hosting.apps.raw_asgi:app`.
Section names in the comments are the spec's."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningServer
from tests.hosting.apps.raw_asgi import PATHSEND_BODY
from tests.hosting.conftest import covetpy_server, raw_connection, uvicorn_server, worker_pid

APP = "tests.hosting.apps.raw_asgi:app"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with covetpy_server(APP, "--max-body-size", str(256 * 1024 * 1024)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def events(client: httpx.Client) -> list[str]:
    result: list[str] = client.get("/events").json()
    return result


def wait_event(client: httpx.Client, prefix: str, timeout: float = 30.0) -> str:
    """The first event the app recorded that starts with `prefix`, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(client) if e.startswith(prefix)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {prefix!r} event; events: {events(client)}")
        time.sleep(0.02)


def scope(client: httpx.Client, target: str = "/scope", **kw: Any) -> dict[str, Any]:
    r = client.get(target, **kw)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


# -- HTTP connection scope ---------------------------------------------------------------------


def test_scope_type_asgi_version_and_method(client: httpx.Client) -> None:
    # "type": "http"; "asgi": {"version": "3.0", "spec_version": ...}; "method" upper-case.
    doc = scope(client)
    assert doc["type"] == "http"
    assert doc["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert doc["method"] == "GET"
    assert client.request("PATCH", "/scope").json()["method"] == "PATCH"


def test_scope_http_version(server: RunningServer) -> None:
    # "http_version": one of "1.0", "1.1", "2".
    with raw_connection(server.port) as s:
        s.sendall(b"GET /scope HTTP/1.0\r\nhost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert json.loads(data.partition(b"\r\n\r\n")[2])["http_version"] == "1.0"


def test_scope_scheme(client: httpx.Client) -> None:
    # "scheme": "http" or "https"; optional, but always given here.
    assert scope(client)["scheme"] == "http"


def test_scope_path_decoded_raw_path_as_sent(client: httpx.Client) -> None:
    # "path": decoded from the percent-encoded form, UTF-8; "raw_path": the bytes as sent.
    doc = scope(client, "/scope/caf%C3%A9%20x%2Fy")
    assert doc["path"] == "/scope/café x/y"
    assert doc["raw_path"] == "/scope/caf%C3%A9%20x%2Fy"


def test_scope_query_string_undecoded(client: httpx.Client) -> None:
    # "query_string": the portion after "?", percent-encoded, as bytes.
    doc = scope(client, "/scope?a=1&b=%20x&a=2")
    assert doc["query_string"] == "a=1&b=%20x&a=2" and doc["path"] == "/scope"


def test_scope_headers_bytes_lowercased_in_order(server: RunningServer) -> None:
    # "headers": an iterable of [name, value] byte pairs, names lower-cased, in the order
    # received, duplicates kept.
    with raw_connection(server.port) as s:
        s.sendall(
            b"GET /scope HTTP/1.1\r\nHost: h\r\nX-B: 2\r\nX-A: 1\r\nx-b: 3\r\n"
            b"Connection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    doc = json.loads(data.partition(b"\r\n\r\n")[2])
    assert doc["headers"] == [
        ["host", "h"],
        ["x-b", "2"],
        ["x-a", "1"],
        ["x-b", "3"],
        ["connection", "close"],
    ]
    assert doc["header_types"] == ["bytes,bytes"]


def test_scope_client_and_server(client: httpx.Client, server: RunningServer) -> None:
    # "client": [host, port] of the remote end; "server": [host, port] the server listens on.
    doc = scope(client)
    assert doc["client"][0] == "127.0.0.1" and doc["client_types"] == ["str", "int"]
    assert doc["server"] == ["127.0.0.1", server.port]


def test_scope_root_path_at_the_root(client: httpx.Client) -> None:
    # "root_path": the mount point; "" for an app served at the root.
    assert scope(client)["root_path"] == ""


def test_scope_state_is_a_copy_of_the_lifespan_state(client: httpx.Client) -> None:
    # Lifespan "state": each request scope gets a shallow copy of what start-up set.
    assert scope(client)["state"] == {"started": "yes"}


def test_scope_extensions(client: httpx.Client) -> None:
    # Extensions: the server lists what it supports in "extensions".
    assert scope(client)["extensions"] == ["http.response.pathsend", "websocket.http.response"]


def test_scope_same_as_uvicorn(server: RunningServer) -> None:
    # The differential check: the fields a client determines are the same under uvicorn.
    target = "/scope/a%2Fb%20c?x=1&y=%C3%A9"
    headers = [("x-one", "1"), ("x-two", "2")]
    with uvicorn_server(APP) as ref:
        theirs = httpx.get(ref.url + target, headers=headers).json()
    ours = httpx.get(server.url + target, headers=headers).json()
    for doc in (ours, theirs):
        doc["headers"] = [h for h in doc["headers"] if h[0] != "host"]
        # uvicorn 0.55 says spec 2.3 (it lacks 2.4's OSError from send) and offers no
        # extensions; the client's port and the server's address differ by nature.
        del doc["client"], doc["server"], doc["extensions"], doc["asgi"]
    assert ours == theirs


# -- http.request (receive) --------------------------------------------------------------------


def test_request_body_arrives_whole(client: httpx.Client) -> None:
    # "body": bytes; "more_body": False on the last message; the body concatenates.
    body = bytes(range(256)) * 4096  # 1 MiB
    r = client.post("/echo", content=body)
    assert r.status_code == 200 and r.content == body


def test_request_body_chunked_upload(client: httpx.Client) -> None:
    # A body sent with chunked transfer coding reaches the app as the same bytes.
    parts = [b"a" * 10_000, b"b" * 70_000, b"c"]
    r = client.post("/echo", content=iter(parts))
    assert r.content == b"".join(parts)


def test_request_small_body_is_one_message(client: httpx.Client) -> None:
    # The server reads ahead: a body all there is delivered with more_body False at once.
    r = client.post("/echo", content=b"hello")
    assert r.headers["x-messages"] == "1"


def test_request_empty_body(client: httpx.Client) -> None:
    # "body" defaults to b""; an empty body is one message with more_body False.
    r = client.post("/echo")
    assert r.content == b"" and r.headers["x-messages"] == "1"


def test_receive_after_response_is_disconnect(client: httpx.Client) -> None:
    # http.disconnect: "sent if receive is called after a response has been sent".
    assert client.get("/after-response").text == "done"
    assert wait_event(client, "after-response:") == "after-response:http.disconnect"


def test_receive_tells_the_app_the_client_went_away(
    server: RunningServer, client: httpx.Client
) -> None:
    # http.disconnect: "... or after the HTTP connection has been closed" (long polling).
    with raw_connection(server.port) as s:
        s.sendall(b"GET /long-poll HTTP/1.1\r\nhost: x\r\n\r\n")
        wait_event(client, "long-poll-waiting")  # the app waits in receive: now go away
    assert wait_event(client, "long-poll:") == "long-poll:http.disconnect"


def test_client_gone_mid_upload_is_disconnect(server: RunningServer, client: httpx.Client) -> None:
    # A body cut short by the client: the app reading it gets http.disconnect.
    with raw_connection(server.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
        s.sendall(b"x" * 100_000)
    assert wait_event(client, "upload-disconnect") == "upload-disconnect"


# -- http.response.start / http.response.body (send) -------------------------------------------


def test_response_status_and_headers(client: httpx.Client) -> None:
    # "status": int; "headers": [bytes, bytes] pairs, repeated names kept (set-cookie).
    r = client.get("/headers")
    assert r.status_code == 201 and r.text == "made"
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.headers["x-custom"] == "yes" and r.headers["content-type"] == "text/plain"


def test_response_streamed_in_parts(client: httpx.Client) -> None:
    # "more_body": True: more content follows; an empty body part is allowed.
    r = client.get("/chunks")
    assert r.text == "one,two,three"


def test_response_pathsend(client: httpx.Client) -> None:
    # Extension http.response.pathsend: the server sends the file at "path".
    r = client.get("/pathsend")
    assert r.status_code == 200 and r.content == PATHSEND_BODY
    # Sent by Rust from the file, framed by its length (not chunked).
    assert r.headers["content-length"] == str(len(PATHSEND_BODY))


def test_trailers_without_http2_are_ignored(client: httpx.Client) -> None:
    # Extension http.response.trailers is not offered over HTTP/1.1; an app that sends them
    # anyway still gets its response out.
    assert client.get("/trailers").text == "with trailers"


def test_send_after_the_client_went_away_raises_oserror(
    server: RunningServer, client: httpx.Client
) -> None:
    # send: "If send() is called on a closed connection the server should raise a
    # server-specific subclass of OSError" (spec 2.4).
    with raw_connection(server.port) as s:
        s.sendall(b"GET /stream-forever HTTP/1.1\r\nhost: x\r\n\r\n")
        assert s.recv(65536)
    assert wait_event(client, "stream-oserror:") == "stream-oserror:ClientDisconnected"


def test_disconnect_while_streaming_reaches_receive(
    server: RunningServer, client: httpx.Client
) -> None:
    # A client that goes away mid-response: the app's waiting receive gets http.disconnect.
    with raw_connection(server.port) as s:
        s.sendall(b"GET /stream-listen HTTP/1.1\r\nhost: x\r\n\r\n")
        assert s.recv(65536)
    assert wait_event(client, "listen:") == "listen:http.disconnect"


# -- errors and broken rules -------------------------------------------------------------------


def problem_500(r: httpx.Response) -> None:
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"


def test_exception_before_start_is_500_with_traceback(
    client: httpx.Client, server: RunningServer
) -> None:
    problem_500(client.get("/error-before"))
    server.wait_for_log("failed before the response")
    assert "Traceback" in server.log


def test_exception_after_start_before_body_is_500(client: httpx.Client) -> None:
    # Nothing has gone out yet (the start is held until the body), so a 500 is still honest.
    problem_500(client.get("/error-after-start"))


def test_exception_mid_body_cuts_the_connection(
    client: httpx.Client, server: RunningServer
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/error-mid-body")
    server.wait_for_log("raised mid-body; the connection is cut")


def test_exception_after_body_is_logged(client: httpx.Client, server: RunningServer) -> None:
    assert client.get("/error-after-body").text == "sent"
    server.wait_for_log("ASGI app raised after its response was sent")


@pytest.mark.parametrize(
    ("target", "rule"),
    [
        ("/no-response", "returned without sending 'http.response.start'"),
        ("/wrong-first", "the first message must be 'http.response.start'"),
        ("/bad-status", "needs 'status', an int"),
        ("/bad-headers", "must be an iterable of [bytes, bytes] pairs"),
        ("/no-type", "must be a dict with a 'type'"),
    ],
)
def test_broken_rule_is_500_and_named(
    client: httpx.Client, server: RunningServer, target: str, rule: str
) -> None:
    problem_500(client.get(target))
    server.wait_for_log(rule)
    line = next(line for line in server.lines if rule in line)
    assert "ASGI app broke the protocol: " in line


def test_header_http_forbids_is_refused(client: httpx.Client, server: RunningServer) -> None:
    # Header values are checked by the server (RFC 9110 §5.5: no CR or LF): a 500, never the
    # injected header.
    r = client.get("/bad-header-value")
    problem_500(r)
    assert "set-cookie" not in r.headers
    server.wait_for_log("invalid response header")


def test_header_http_forbids_on_a_stream_is_refused(client: httpx.Client) -> None:
    # The same refusal for a streamed body: the app is told (its send raises) instead of
    # waiting forever for a body nobody reads.
    problem_500(client.get("/bad-header-stream"))
    assert wait_event(client, "bad-header-stream:") == "bad-header-stream:ASGIProtocolError"


def test_body_after_the_end_is_refused(client: httpx.Client, server: RunningServer) -> None:
    # The response is complete after more_body False: a later body raises in the app, and
    # the client has the first response only.
    assert client.get("/body-after-end").text == "first"
    server.wait_for_log("'http.response.body' sent after the response body ended")
    assert wait_event(client, "body-after-end:") == "body-after-end:raised"


# -- WebSocket ---------------------------------------------------------------------------------


def ws_url(server: RunningServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_websocket_scope(server: RunningServer) -> None:
    # WebSocket connection scope: "type": "websocket", "scheme": "ws", "subprotocols".
    with connect(
        ws_url(server, "/ws/scope?x=1"), subprotocols=[Subprotocol("a"), Subprotocol("b")]
    ) as ws:
        doc = json.loads(ws.recv(timeout=10))
    assert doc["type"] == "websocket" and doc["scheme"] == "ws"
    assert doc["path"] == "/ws/scope" and doc["query_string"] == "x=1"
    assert doc["subprotocols"] == ["a", "b"] and doc["method"] is None


def test_websocket_accept_with_subprotocol_and_headers_then_echo(
    server: RunningServer, client: httpx.Client
) -> None:
    # websocket.accept "subprotocol" and "headers"; websocket.receive / websocket.send with
    # "text" or "bytes"; websocket.disconnect "code" when the client closes.
    with connect(ws_url(server, "/ws/echo"), subprotocols=[Subprotocol("chat")]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response is not None and ws.response.headers["x-accepted"] == "1"
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=10) == b"\x00\x01"
    assert wait_event(client, "ws-disconnect:") == "ws-disconnect:1000"


def test_websocket_close_from_the_app(server: RunningServer) -> None:
    # websocket.close "code" and "reason" reach the client.
    with connect(ws_url(server, "/ws/echo")) as ws:
        ws.send("close-4001")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "asked")


def test_websocket_close_before_accept_is_403(server: RunningServer) -> None:
    # websocket.close before accept: "the server must close the connection with a HTTP 403".
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server, "/ws/close-first"))
    assert info.value.response.status_code == 403


def test_websocket_denial_response(server: RunningServer) -> None:
    # Extension websocket.http.response: the app's own HTTP response instead of the upgrade.
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server, "/ws/deny"))
    response = info.value.response
    assert response.status_code == 401 and response.headers["x-denied"] == "yes"
    assert response.body == b"go away"


def test_slow_reading_client_holds_the_app_back(
    server: RunningServer, client: httpx.Client
) -> None:
    # send "waits until the data is written" (backpressure): a client that reads nothing
    # keeps a 128 MiB stream from piling up in the server.
    from tests.hosting.conftest import rss_bytes

    total = 128 * 1024 * 1024
    pid = worker_pid(server)
    before = rss_bytes(pid)
    with raw_connection(server.port, timeout=60) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(f"GET /sized?{total} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        time.sleep(1.0)  # give a server without backpressure time to buffer it all
        assert not [e for e in events(client) if e.startswith("sized-done:")]
        assert rss_bytes(pid) - before < 48 * 1024 * 1024
        # Now read it all: chunked framing, ended by the last chunk.
        received, tail = 0, b""
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            chunk = s.recv(1 << 20)
            assert chunk, "connection closed before the last chunk"
            received += len(chunk)
            tail = (tail + chunk)[-16:]
        assert received > total
    assert wait_event(client, "sized-done:") == f"sized-done:{total}"
