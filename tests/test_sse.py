"""Server-Sent Events (issue 15): the encoder, and streams from a real server over loopback
(tests/apps/sse_app.py, behind the built-in compression)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from covetpy.sse import EventSourceResponse, ServerSentEvent, encode
from tests.conftest import RunningServer, running_server

# --- the encoder -------------------------------------------------------------------------


def test_multi_line_data_is_one_data_line_per_line() -> None:
    # CRLF, CR and LF all end a line (HTML §9.2.6); the client joins the lines with LF.
    assert ServerSentEvent("a\nb\r\nc\rd").encode() == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert ServerSentEvent("end\n").encode() == b"data: end\ndata: \n\n"
    assert ServerSentEvent("").encode() == b"data: \n\n"


def test_every_field_in_order() -> None:
    e = ServerSentEvent("x", event="update", id="42", retry=3000, comment="one\ntwo")
    assert e.encode() == (b": one\n: two\nevent: update\nid: 42\nretry: 3000\ndata: x\n\n")
    assert ServerSentEvent(comment="keep").encode() == b": keep\n\n"
    assert ServerSentEvent(retry=0).encode() == b"retry: 0\n\n"


def test_items_other_than_events_are_data() -> None:
    assert encode("hi") == b"data: hi\n\n"
    assert encode(b"caf\xc3\xa9") == "data: café\n\n".encode()
    assert encode({"a": [1, 2]}) == b'data: {"a":[1,2]}\n\n'
    assert encode(ServerSentEvent([1], id="1")) == b"id: 1\ndata: [1]\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_id_refuses_cr_lf_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="id"):
        ServerSentEvent("x", id=bad)


def test_event_refuses_line_breaks_and_retry_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="event"):
        ServerSentEvent("x", event="a\nretry: 1")
    for retry in (-1, 1.5, True):
        with pytest.raises(ValueError, match="retry"):
            ServerSentEvent("x", retry=retry)  # type: ignore[arg-type]


def test_response_headers_and_ping_option() -> None:
    r = EventSourceResponse(iter(()), headers={"x-extra": "1"})
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.headers["x-extra"] == "1"
    assert r.ping == 15.0
    assert EventSourceResponse(iter(()), ping=0).ping is None
    own = EventSourceResponse(iter(()), headers={"cache-control": "no-cache"})
    assert own.headers.getlist("cache-control") == ["no-cache"]
    with pytest.raises(ValueError, match="ping"):
        EventSourceResponse(iter(()), ping=-1)


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.apps.sse_app:app") as server:
        yield server


@pytest.fixture(scope="module")
def client(srv: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c


def test_stream_format_over_the_wire(client: httpx.Client) -> None:
    r = client.get("/events", headers={"accept-encoding": "gzip, br, zstd"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.text == (
        "event: multi\nid: 7\nretry: 2500\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        ": just a comment\n\n"
        'data: {"n":1,"s":"x"}\n\n'
        "data: plain\n\n"
        "data: bytes\n\n"
        "data: \n\n"
    )


def test_compression_leaves_event_streams_alone(client: httpx.Client) -> None:
    # The control: the same app does compress a text answer.
    text = client.get("/text", headers={"accept-encoding": "gzip"})
    assert text.headers.get("content-encoding") == "gzip"
    for coding in ("gzip", "br", "zstd"):
        with client.stream("GET", "/events", headers={"accept-encoding": coding}) as r:
            assert "content-encoding" not in r.headers
            assert "accept-encoding" not in r.headers.get("vary", "").lower()
            assert b"".join(r.iter_raw()).startswith(b"event: multi\n")


def test_sync_generator(client: httpx.Client) -> None:
    r = client.get("/sync")
    assert r.text == "id: 0\ndata: 0\n\nid: 1\ndata: 1\n\nid: 2\ndata: 2\n\n"


def test_last_event_id_reaches_the_handler(client: httpx.Client) -> None:
    assert client.get("/last-id").text == "data: none\n\ndata: none\n\n"
    r = client.get("/last-id", headers={"last-event-id": "41"})
    assert r.text == "data: 41\n\ndata: 41\n\n"


def _read_until(s: socket.socket, marker: bytes, limit: int = 1 << 20) -> bytes:
    """Reads from `s` until `marker` arrived (the socket's timeout bounds each read)."""
    got = b""
    while marker not in got:
        chunk = s.recv(65536)
        assert chunk, f"closed before {marker!r}; got {got!r}"
        got += chunk
        assert len(got) < limit
    return got


def _open_stream(srv: RunningServer, path: str) -> socket.socket:
    s = srv.connect(timeout=30)
    s.sendall(f"GET {path} HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n".encode())
    return s


def test_keep_alive_pings_while_idle(srv: RunningServer) -> None:
    with _open_stream(srv, "/idle/pings") as s:
        got = _read_until(s, b"data: hello\n\n")
        assert got.startswith(b"HTTP/1.1 200")
        assert b"transfer-encoding: chunked" in got.lower()
        # Two pings, so it is a period and not a one-off.
        rest = got.partition(b"data: hello\n\n")[2]
        while rest.count(b": ping\n\n") < 2:
            chunk = s.recv(65536)
            assert chunk
            rest += chunk


@pytest.mark.parametrize("path", ["/idle", "/sync-idle"])
def test_client_leaving_closes_the_producer(
    srv: RunningServer, client: httpx.Client, path: str
) -> None:
    tag = path.strip("/")
    with _open_stream(srv, f"{path}/{tag}") as s:
        _read_until(s, b"data: hello\n\n")
    # The producer's `finally` ran: /closed waits for it (up to 30 s) instead of us polling.
    assert client.get(f"/closed/{tag}").json() == {"closed": True}


def test_httpx_stream_reads_events_as_they_come(client: httpx.Client) -> None:
    with client.stream("GET", "/idle/httpx") as r:
        lines = r.iter_lines()
        assert next(lines) == "data: hello"
        assert next(lines) == ""
        assert next(lines) == ": ping"
    assert client.get("/closed/httpx").json() == {"closed": True}
