"""WebSocket over HTTP/2 (RFC 8441) end to end: a real `covetpy run` (cleartext, prior-knowledge
h2c) and a client made of the `h2` library's connection state machine that opens extended
CONNECT streams (`:protocol websocket`) and speaks raw WebSocket frames (RFC 6455 §5) on them.

The handlers are the same as over HTTP/1.1 (tests/websocket/app.py, a hosted ASGI app for
mounts): the point is that they cannot tell the difference, except for the version.
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.settings import SettingCodes

from tests.conftest import RunningServer, StartServer, running_server

# How long any single read waits for the server.
TIMEOUT = 10.0

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# The first header bit of a compressed message (RFC 7692 §6), or'ed with its opcode here.
RSV1 = 0x40
MASK = b"\x37\xfa\x21\x3d"


@dataclass
class Stream:
    """One extended CONNECT stream as the client sees it."""

    id: int
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None


class H2WebSocketClient:
    """One HTTP/2 connection to the server; extended CONNECT streams on it (RFC 8441 §4)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.h2 = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.streams: dict[int, Stream] = {}
        self.raw = bytearray()
        self.settings_seen = False
        self.terminated: ConnectionTerminated | None = None
        self.flush()
        # RFC 8441 §3: a client may use :protocol only after the server's
        # SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
        while not self.settings_seen:
            self.pump()
        assert self.h2.remote_settings[SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        out = self.h2.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self) -> None:
        """Reads once from the socket and handles the whole frames that came.

        The `h2` library closes its state machine on GOAWAY, but streams below its last stream
        id go on (RFC 9113 §6.8): after one, frames are handled here by hand (a drain's close
        frame comes after the server's GOAWAY)."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.raw += chunk
        while len(self.raw) >= 9:
            end = 9 + int.from_bytes(self.raw[:3], "big")
            if len(self.raw) < end:
                break
            frame = bytes(self.raw[:end])
            del self.raw[:end]
            if self.terminated is None:
                for ev in self.h2.receive_data(frame):
                    self.handle(ev)
                self.flush()
            else:
                self.handle_raw(frame)

    def handle(self, ev: object) -> None:
        if isinstance(ev, RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(ev, ResponseReceived):
            s = self.streams[ev.stream_id]
            s.headers = {k: v for k, v in ev.headers}  # type: ignore[misc]
            s.status = int(s.headers.pop(":status"))
        elif isinstance(ev, DataReceived):
            self.streams[ev.stream_id].data += ev.data
            # The window opens as we read (flow control: RFC 9113 §6.9).
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, StreamEnded):
            self.streams[ev.stream_id].ended = True
        elif isinstance(ev, StreamReset):
            self.streams[ev.stream_id].reset = ev.error_code
            self.streams[ev.stream_id].ended = True
        elif isinstance(ev, ConnectionTerminated):
            self.terminated = ev

    def handle_raw(self, frame: bytes) -> None:
        kind, flags = frame[3], frame[4]
        sid = int.from_bytes(frame[5:9], "big") & 0x7FFF_FFFF
        payload = frame[9:]
        if kind == 0x0 and sid in self.streams:  # DATA (the server never pads)
            self.streams[sid].data += payload
            if flags & 0x1:
                self.streams[sid].ended = True
        elif kind == 0x3 and sid in self.streams:  # RST_STREAM
            self.streams[sid].reset = int.from_bytes(payload, "big")
            self.streams[sid].ended = True
        elif kind == 0x6 and not flags & 0x1:  # PING: answered
            self.sock.sendall(raw_frame(0x6, 0x1, 0, payload))

    def open(
        self,
        path: str,
        *headers: tuple[str, str],
        protocol: str = "websocket",
        version: str | None = "13",
    ) -> Stream:
        """Sends an extended CONNECT for `path` and waits for the response's head."""
        sid = self.h2.get_next_available_stream_id()
        s = self.streams[sid] = Stream(sid)
        fields = [
            (":method", "CONNECT"),
            (":protocol", protocol),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"127.0.0.1:{self.port}"),
            *headers,
        ]
        if version is not None:
            fields.append(("sec-websocket-version", version))
        self.h2.send_headers(sid, fields)
        self.flush()
        while not s.status and not s.ended:
            self.pump()
        return s

    def body(self, s: Stream) -> bytes:
        """The whole body of a response that is not a WebSocket."""
        while not s.ended:
            self.pump()
        return bytes(s.data)

    def send(self, s: Stream, opcode: int, payload: bytes) -> None:
        """One final, masked frame (RFC 6455 §5.3), sent as the server's windows allow;
        `opcode` may carry RSV1."""
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n <= 0xFFFF:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
        data = head + MASK + masked
        if self.terminated is not None:
            # Small frames only here: the windows are not looked at any more.
            self.sock.sendall(raw_frame(0x0, 0x0, s.id, data))
            return
        while data:
            room = min(
                self.h2.local_flow_control_window(s.id),
                self.h2.max_outbound_frame_size,
            )
            if room <= 0:
                self.pump()
                continue
            self.h2.send_data(s.id, data[:room])
            data = data[room:]
            self.flush()

    def end(self, s: Stream) -> None:
        """END_STREAM: the client's FIN."""
        if self.terminated is not None:
            self.sock.sendall(raw_frame(0x0, 0x1, s.id, b""))
            return
        self.h2.end_stream(s.id)
        self.flush()

    def recv(self, s: Stream) -> tuple[int, bytes] | None:
        """The next whole frame from the server (never masked), or None at the end."""
        while True:
            frame = parse(s.data)
            if frame is not None:
                return frame
            if s.ended:
                assert not s.data, f"a cut frame: {bytes(s.data)!r}"
                return None
            self.pump()


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


def parse(buf: bytearray) -> tuple[int, bytes] | None:
    if len(buf) < 2:
        return None
    assert buf[0] & 0x80, "the server sends whole messages"
    assert not buf[1] & 0x80, "a server frame is never masked"
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        (n,), at = struct.unpack("!H", buf[2:4]), 4
    elif n == 127:
        if len(buf) < 10:
            return None
        (n,), at = struct.unpack("!Q", buf[2:10]), 10
    if len(buf) < at + n:
        return None
    # The opcode, with RSV1 when the message is compressed.
    frame = (buf[0] & 0x4F, bytes(buf[at : at + n]))
    del buf[: at + n]
    return frame


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0])


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.websocket.app:app", "--access-log") as server:
        yield server


@pytest.fixture
def client(srv: RunningServer) -> Iterator[H2WebSocketClient]:
    c = H2WebSocketClient(srv.port)
    yield c
    c.close()


def close_cleanly(c: H2WebSocketClient, s: Stream, code: int = 1000) -> None:
    """The close handshake (RFC 6455 §7.1.2): the server echoes the code and ends the stream."""
    c.send(s, CLOSE, struct.pack("!H", code))
    assert c.recv(s) == (CLOSE, struct.pack("!H", code))
    c.end(s)
    assert c.recv(s) is None
    assert s.reset in (None, 0)


def test_echo_over_an_extended_connect(client: H2WebSocketClient) -> None:
    """RFC 8441 §5: a 200 opens the WebSocket, without the HTTP/1.1 handshake's fields; the
    stream's DATA carry the frames both ways, through flow control for a large message."""
    s = client.open("/echo")
    assert s.status == 200
    for absent in ("sec-websocket-accept", "upgrade", "connection"):
        assert absent not in s.headers, s.headers
    for text in ["hello", "", "ünïcödé ✓", "x" * 200_000]:
        client.send(s, TEXT, text.encode())
        assert client.recv(s) == (TEXT, text.encode())
    client.send(s, PING, b"p")
    assert client.recv(s) == (PONG, b"p")
    close_cleanly(client, s)


def test_subprotocol_and_accept_headers(client: H2WebSocketClient) -> None:
    s = client.open("/proto", ("sec-websocket-protocol", "v1, v2.chat"))
    assert s.status == 200
    assert s.headers["sec-websocket-protocol"] == "v2.chat"
    assert s.headers["x-accepted"] == "yes"
    op, data = client.recv(s) or (0, b"")
    assert op == TEXT
    assert json.loads(data) == {"offered": ["v1", "v2.chat"], "chosen": "v2.chat"}
    close_cleanly(client, s)


def test_the_handler_sees_the_request_as_over_http11(client: H2WebSocketClient) -> None:
    s = client.open(
        "/params/lobby/3?limit=5",
        ("x-agent", "h2-test"),
        ("cookie", "session=abc"),
    )
    assert s.status == 200
    op, data = client.recv(s) or (0, b"")
    assert op == TEXT
    doc = json.loads(data)
    assert (doc["room"], doc["n"], doc["limit"]) == ("lobby", 3, 5)
    assert (doc["agent"], doc["session"], doc["path"]) == ("h2-test", "abc", "/params/lobby/3")
    assert doc["query"] == {"limit": "5"}
    assert doc["client"] is True


def test_refusals_are_http_answers_on_the_stream(client: H2WebSocketClient) -> None:
    """A handler that answers instead of accepting: its answer, as over HTTP/1.1 (a 2xx would
    open the WebSocket, so a refusal is never one)."""
    s = client.open("/teapot")
    assert (s.status, client.body(s)) == (418, b"no sockets here")
    s = client.open("/refuse")
    assert s.status == 403
    s = client.open("/private")
    assert s.status == 401
    s = client.open("/private", ("x-token", "secret"))
    assert s.status == 200
    assert client.recv(s) == (TEXT, b"welcome secret")


def test_handshake_failures(client: H2WebSocketClient) -> None:
    # RFC 6455 §4.4: a version other than 13 (or none) is answered 426 naming 13.
    for version in ("8", None):
        s = client.open("/echo", version=version)
        assert (s.status, s.headers["sec-websocket-version"]) == (426, "13")
    s = client.open("/echo", protocol="connect-udp")
    assert s.status == 501
    s = client.open("/log")
    # An HTTP route cannot answer as if the WebSocket were open.
    assert s.status == 400
    s = client.open("/no/such/path")
    assert s.status == 404


def test_websockets_share_a_connection(client: H2WebSocketClient) -> None:
    a = client.open("/echo")
    b = client.open("/state")
    assert (a.status, b.status) == (200, 200)
    for i in range(3):
        client.send(a, TEXT, f"a{i}".encode())
        client.send(b, TEXT, b"tick")
    for i in range(3):
        assert client.recv(a) == (TEXT, f"a{i}".encode())
        assert client.recv(b) == (TEXT, str(i + 1).encode())
    close_cleanly(client, a)
    close_cleanly(client, b)


def test_the_access_log_has_the_websocket(srv: RunningServer) -> None:
    c = H2WebSocketClient(srv.port)
    try:
        s = c.open("/echo?from=access-log")
        c.send(s, TEXT, b"logged")
        assert c.recv(s) == (TEXT, b"logged")
        close_cleanly(c, s)
    finally:
        c.close()
    # One line for the whole WebSocket, written when it closes, with its close code.
    for _ in range(100):
        if any("/echo?from=access-log" in line for line in srv.lines):
            break
        time.sleep(0.05)
    line = next(line for line in srv.lines if "/echo?from=access-log" in line)
    # RFC 8441 §5: the WebSocket opened with a 200 (not 101, which HTTP/2 does not have).
    assert '"GET /echo?from=access-log HTTP/2" 200 ' in line, line
    assert "close=1000" in line, line


def test_a_hosted_asgi_app_serves_websockets_over_h2(start_server: StartServer) -> None:
    """A mount's WebSocket upgrades open a session over HTTP/2 too; the ASGI scope says
    `http_version` "2"."""
    server = start_server("tests.hosting.apps.raw_asgi:app")
    c = H2WebSocketClient(server.port)
    try:
        s = c.open("/ws/echo", ("sec-websocket-protocol", "chat"))
        assert s.status == 200
        assert (s.headers["sec-websocket-protocol"], s.headers["x-accepted"]) == ("chat", "1")
        c.send(s, TEXT, b"hosted")
        assert c.recv(s) == (TEXT, b"hosted")
        c.send(s, BINARY, b"\x00\x01")
        assert c.recv(s) == (BINARY, b"\x00\x01")
        close_cleanly(c, s)

        s = c.open("/ws/deny")
        assert (s.status, s.headers.get("x-denied"), c.body(s)) == (401, "yes", b"go away")

        s = c.open("/ws/scope?x=1", ("sec-websocket-protocol", "a, b"))
        assert s.status == 200
        op, data = c.recv(s) or (0, b"")
        assert op == TEXT
        doc = json.loads(data)
        assert (doc["type"], doc["http_version"], doc["scheme"]) == ("websocket", "2", "ws")
        assert (doc["path"], doc["query_string"]) == ("/ws/scope", "x=1")
        assert doc["subprotocols"] == ["a", "b"]
        op, data = c.recv(s) or (0, b"")
        assert (op, close_code(data)) == (CLOSE, 1000)
    finally:
        c.close()


def test_a_drain_closes_websockets_over_h2_with_1001(start_server: StartServer) -> None:
    server = start_server("tests.websocket.app:app")
    c = H2WebSocketClient(server.port)
    try:
        s = c.open("/echo")
        c.send(s, TEXT, b"before")
        assert c.recv(s) == (TEXT, b"before")
        server.proc.send_signal(signal.SIGTERM)
        # As over HTTP/1.1: "going away" (RFC 6455 §7.4.1).
        op, data = c.recv(s) or (0, b"")
        assert (op, close_code(data)) == (CLOSE, 1001)
        c.send(s, CLOSE, struct.pack("!H", 1001))
        c.end(s)
        assert c.recv(s) is None
    finally:
        c.close()
    assert server.proc.wait(15) == 0, server.log


def test_permessage_deflate_over_h2(start_server: StartServer) -> None:
    """RFC 7692 is negotiated by the same fields over HTTP/2 (RFC 8441 §5)."""
    server = start_server("tests.websocket.app:app", "--ws-compression")
    c = H2WebSocketClient(server.port)
    try:
        s = c.open("/echo", ("sec-websocket-extensions", "permessage-deflate"))
        assert s.status == 200
        assert s.headers["sec-websocket-extensions"].startswith("permessage-deflate"), s.headers
        inflate = zlib.decompressobj(wbits=-15)
        for i in range(2):
            text = f"compress me {i} ".encode() * 100
            z = zlib.compressobj(wbits=-15)
            data = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            c.send(s, TEXT | RSV1, data[:-4])
            op, payload = c.recv(s) or (0, b"")
            assert op == TEXT | RSV1
            assert inflate.decompress(payload + b"\x00\x00\xff\xff") == text
        close_cleanly(c, s)
    finally:
        c.close()
