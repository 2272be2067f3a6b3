"""WebSocket limits and lifecycle against a real server: message size (1009), UTF-8 (1007),
keep-alive pings and their timeout (1011), backpressure on a slow reader, a client that drops
mid-message, the per-worker socket limit (503) and the close 1001 at a drain. Cases cite RFC
6455 sections."""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import RunningServer, running_server, spawn

LIMITS = (
    "--ws-max-message",
    "65536",
    "--ws-ping-interval",
    "0.2",
    "--ws-ping-timeout",
    "0.5",
    "--ws-max-queue",
    "4",
    "--ws-max-connections",
    "3",
)


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.apps.ws_limits:app", *LIMITS) as server:
        yield server


_opened: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    """Every raw socket a test opened is closed, also when it fails midway."""
    yield
    while _opened:
        _opened.pop().close()


def upgrade(port: int, path: str) -> socket.socket:
    """A raw socket past a successful handshake."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    _opened.append(s)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    # Byte by byte: frames may follow the head in the same segment.
    while not head.endswith(b"\r\n\r\n"):
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def read_frame(s: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    b0, b1 = exactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exactly(8))
    return b0 & 0x0F, exactly(n)


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0])


def read_until_close(s: socket.socket) -> int:
    while True:
        opcode, payload = read_frame(s)
        if opcode == 0x8:
            return close_code(payload)


def test_a_message_over_the_limit_closes_with_1009(srv: RunningServer) -> None:
    # §7.4.1: 1009, message too big; refused from its header, before its payload is read.
    with connect(f"ws://127.0.0.1:{srv.port}/echo", proxy=None, max_size=None) as ws:
        ws.send("x" * 65536)
        assert ws.recv(timeout=10) == "x" * 65536
        ws.send("x" * 65537)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_invalid_utf8_closes_with_1007(srv: RunningServer) -> None:
    # §8.1: a text message that is not UTF-8 fails the connection with 1007.
    s = upgrade(srv.port, "/echo")
    s.sendall(client_frame(0x1, b"ok \xff"))
    assert read_until_close(s) == 1007
    s.close()


def test_pings_are_answered_and_sent(srv: RunningServer) -> None:
    # §5.5.2: a ping gets a pong with its payload; the server pings an idle socket itself and
    # keeps it open while pongs come back.
    s = upgrade(srv.port, "/echo")
    s.sendall(client_frame(0x9, b"are you there"))
    assert read_frame(s) == (0xA, b"are you there")
    for _ in range(3):
        opcode, payload = read_frame(s)
        assert opcode == 0x9
        s.sendall(client_frame(0xA, payload))
    s.sendall(client_frame(0x1, b"still here"))
    while (frame := read_frame(s))[0] == 0x9:
        s.sendall(client_frame(0xA, frame[1]))
    assert frame == (0x1, b"still here")
    s.close()


def test_a_peer_that_never_answers_pings_is_closed_with_1011(srv: RunningServer) -> None:
    s = upgrade(srv.port, "/echo")
    assert read_frame(s)[0] == 0x9
    assert read_until_close(s) == 1011
    s.close()


def test_a_slow_reader_holds_the_sender_back(srv: RunningServer) -> None:
    # 100 messages of 256 KiB (25 MiB) to a client that reads nothing: the handler's sends
    # wait once the socket's buffers and the 4-message queue are full, instead of queueing
    # it all in memory. Then the client reads, and everything arrives.
    s = upgrade(srv.port, "/flood/100")
    s.settimeout(30)
    base = f"http://127.0.0.1:{srv.port}"
    last, still = -1, 0
    while still < 5:
        sent = httpx.get(f"{base}/seen").json()["sent"]
        still = still + 1 if sent == last else 0
        last = sent
        time.sleep(0.1)
    assert 0 < last < 100, last
    got = 0
    while True:
        opcode, payload = read_frame(s)
        if opcode == 0x9:
            s.sendall(client_frame(0xA, payload))
            continue
        if opcode == 0x1:
            assert payload == b"done"
            break
        got += 1
    assert got == 100
    s.close()


def test_a_client_that_drops_mid_message_ends_the_handler_with_1006(srv: RunningServer) -> None:
    s = upgrade(srv.port, "/echo")
    frame = client_frame(0x2, b"y" * 1000)
    s.sendall(frame[:500])
    s.close()
    base = f"http://127.0.0.1:{srv.port}"
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/seen").json()["closed"] != 1006:
        assert time.monotonic() < deadline, "the handler never saw the disconnect"
        time.sleep(0.05)


def test_sockets_beyond_the_limit_are_answered_503(srv: RunningServer) -> None:
    open_ = [upgrade(srv.port, "/echo") for _ in range(3)]
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    _opened.append(s)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert s.recv(4096).startswith(b"HTTP/1.1 503 ")
    s.close()
    for o in open_:
        o.sendall(client_frame(0x8, struct.pack("!H", 1000)))
        assert read_until_close(o) == 1000
        o.close()


def test_other_versions_are_told_which_one_to_use(srv: RunningServer) -> None:
    # §4.4: 426 with Sec-WebSocket-Version: 13.
    r = httpx.get(
        f"http://127.0.0.1:{srv.port}/echo",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "8",
        },
    )
    assert r.status_code == 426
    assert r.headers["sec-websocket-version"] == "13"
    r = httpx.get(
        f"http://127.0.0.1:{srv.port}/echo",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "short",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert r.status_code == 400
    assert "Sec-WebSocket-Key" in r.json()["detail"]


def test_a_drain_closes_open_sockets_with_1001() -> None:
    # §7.4.1: 1001, going away, on SIGTERM (after the pre-stop delay).
    server = spawn("tests.apps.ws_limits:app", "--pre-stop-delay", "0")
    try:
        _drain_closes_with_1001(server)
    finally:
        if server.proc.poll() is None:
            server.stop(timeout=30)


def _drain_closes_with_1001(server: RunningServer) -> None:
    assert server.ready.wait(30), server.log
    got: list[int] = []
    opened = threading.Event()

    def client() -> None:
        s = upgrade(server.port, "/echo")
        opened.set()
        s.settimeout(30)
        got.append(read_until_close(s))
        s.close()

    t = threading.Thread(target=client)
    t.start()
    assert opened.wait(30)
    code = server.stop(timeout=30)
    t.join(30)
    assert got == [1001], server.log
    assert code == 0, server.log


def test_metrics_count_sockets_messages_and_closes() -> None:
    with running_server("tests.apps.ws_limits:app", "--metrics") as server:
        with connect(f"ws://127.0.0.1:{server.port}/echo", proxy=None) as ws:
            for text in ("one", "two"):
                ws.send(text)
                assert ws.recv(timeout=10) == text
            page = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
            assert "covetpy_websocket_connections 1" in page, page
        deadline = time.monotonic() + 30
        while 'covetpy_websocket_closes_total{code="1000"} 1' not in page:
            assert time.monotonic() < deadline, page
            time.sleep(0.05)
            page = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    assert 'covetpy_websocket_messages_total{direction="in"} 2' in page
    assert 'covetpy_websocket_messages_total{direction="out"} 2' in page
    assert 'covetpy_websocket_bytes_total{direction="in"} 6' in page
    assert "covetpy_websocket_connections 0" in page


def test_a_socket_whose_handler_never_receives_is_released_when_its_client_resets() -> None:
    # The handler's inbox fills (16 messages) and the server stops reading; then the client
    # resets the connection. The server learns it at its next write (a ping) and the
    # connection must end for good (its gauge back to 0), not wait for inbox room forever.
    args = ("--metrics", "--ws-ping-interval", "0.2", "--ws-ping-timeout", "5")
    with running_server("tests.apps.ws_limits:app", *args) as server:
        s = upgrade(server.port, "/deaf")
        for _ in range(40):
            s.sendall(client_frame(0x1, b"x" * 1000))
        # SO_LINGER 0: close(2) sends RST.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        base = f"http://127.0.0.1:{server.port}"
        deadline = time.monotonic() + 30
        while "covetpy_websocket_connections 0" not in httpx.get(f"{base}/metrics").text:
            assert time.monotonic() < deadline, "the connection never ended"
            time.sleep(0.05)
