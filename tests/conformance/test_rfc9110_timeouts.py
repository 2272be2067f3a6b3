"""Time limits: a request that does not arrive in time gets 408 (RFC 9110 §15.5.9); an idle
persistent connection is closed without a word (RFC 9112 §9.5). The server's timeouts are 1 s.
"""

from __future__ import annotations

import select
import socket
import time

import pytest

from tests.conformance.helpers import (
    HELLO,
    Exchange,
    Reader,
    assert_timed_out,
    read_to_close,
    statuses,
    talk,
)
from tests.conftest import RunningServer

# ---------------------------------------------------------------------------------------------
# 408 Request Timeout (RFC 9110 §15.5.9)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET / HTTP/1.1", b"G", b"\r\n"],
    ids=["fields-unterminated", "request-line-only", "one-byte", "empty-line-only"],
)
def test_rfc9110_15_5_9_partial_head_then_silence_is_408(
    server: RunningServer, partial: bytes
) -> None:
    """RFC 9110 §15.5.9: the head did not arrive within the 1 s header timeout: 408 with
    `connection: close`, then the server closes."""
    assert_timed_out(talk(server, partial))


@pytest.mark.parametrize(
    "data",
    [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["length-short", "length-none", "chunk-data-short", "no-last-chunk"],
)
def test_rfc9110_15_5_9_incomplete_body_then_silence_is_408(
    server: RunningServer, data: bytes
) -> None:
    """RFC 9110 §15.5.9: the body did not arrive within the 1 s body timeout: 408 and close."""
    assert_timed_out(talk(server, data))


def trickle(sock: socket.socket, byte: bytes) -> bool:
    """Sends `byte` and pauses 50 ms; False once the server has answered or hung up."""
    readable, _, _ = select.select([sock], [], [], 0)
    if readable:
        return False
    try:
        sock.send(byte)
    except (BrokenPipeError, ConnectionResetError):
        return False
    time.sleep(0.05)
    return True


def test_rfc9110_15_5_9_trickled_head_still_times_out(server: RunningServer) -> None:
    """A head that keeps trickling in (slowloris) is bounded by the header timeout as a whole,
    not per byte: 408 after about 1 s although bytes keep arriving."""
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        # Enough bytes for ~30 s of trickling: a timer reset by each byte never fires.
        line = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 600
        answered_while_trickling = not all(trickle(s, bytes([byte])) for byte in line)
        data, closed = read_to_close(s)
        elapsed = time.monotonic() - start
    assert answered_while_trickling, "the header timeout waited for the bytes to stop"
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9110_15_5_9_trickled_body_still_times_out(server: RunningServer) -> None:
    """The body timeout bounds the whole body, not the gap between bytes."""
    with server.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        # ~30 s of trickling, stopped short of the whole body: a timer reset by each byte
        # never fires.
        answered_while_trickling = not all(trickle(s, b"a") for _ in range(600))
        data, closed = read_to_close(s)
        elapsed = time.monotonic() - start
    assert answered_while_trickling, "the body timeout waited for the bytes to stop"
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9110_15_5_9_partial_second_request_on_keep_alive_connection_is_408(
    server: RunningServer,
) -> None:
    """After a complete exchange, a second head that stops halfway gets 408 about 1 s after its
    first byte arrived (the header timeout, not the keep-alive timeout)."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        assert reader.response().status == 200
        time.sleep(0.5)
        start = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost:")
        data, closed = read_to_close(s)
        elapsed = time.monotonic() - start
    assert_timed_out(Exchange(data, closed, elapsed))


def test_rfc9112_9_3_2_pipelined_head_completed_while_handler_runs_is_not_timed_out(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.3.2: pipelined requests are answered in order. Here the second head arrives
    in two parts 50 ms apart while the first request's handler (/slow) takes 1 s - longer than
    the 1 s header timeout. The head was complete long before any timeout, so both requests
    must be answered 200. Twelve connections run in parallel: the bug this pins (header timer
    running during the wait, unbiased select) lost the race about half the time."""
    socks = [server.connect() for _ in range(12)]
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n")
        time.sleep(0.05)
        for s in socks:
            s.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        results = [read_to_close(s) for s in socks]
    finally:
        for s in socks:
            s.close()
    got = [statuses(Exchange(data, closed, 0)) for data, closed in results]
    assert got == [[200, 200]] * len(socks)


# ---------------------------------------------------------------------------------------------
# Idle connections (RFC 9112 §9.5)
# ---------------------------------------------------------------------------------------------


def _closed_silently_after_keep_alive(s: socket.socket) -> None:
    """`s`, idle after an answer, is closed by the server with nothing sent, and not before
    the 1 s keep-alive timeout (that it fired at all is `closed`)."""
    start = time.monotonic()
    data, closed = read_to_close(s)
    elapsed = time.monotonic() - start
    assert closed
    assert data == b""
    assert elapsed >= 0.8, elapsed


def test_rfc9112_9_5_idle_keep_alive_connection_is_closed_silently(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.5: a server may close an idle persistent connection at any time; between
    requests it does so after the 1 s keep-alive timeout and sends nothing (no 408)."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert (r.status, r.body, r.get("connection")) == (200, HELLO, None)
        _closed_silently_after_keep_alive(s)


def test_rfc9112_9_5_idle_http10_keep_alive_connection_is_closed_silently(
    server: RunningServer,
) -> None:
    """RFC 9112 §9.5: the keep-alive timeout (1 s) applies to HTTP/1.0 persistent connections
    too, and nothing is sent when it closes one."""
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = Reader(s).response()
        assert (r.body, r.get("connection")) == (HELLO, "keep-alive")
        _closed_silently_after_keep_alive(s)


def test_rfc9112_9_5_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    """RFC 9112 §9.5: a connection that never sends a request is closed (at the header or
    keep-alive timeout, 1 s), with at most one 408 (RFC 9110 §15.5.9) and nothing else."""
    with server.connect() as s:
        start = time.monotonic()
        data, closed = read_to_close(s)
        elapsed = time.monotonic() - start
    assert closed  # within CLOSE_WAIT: a generous bound, the timer fired
    if data:
        assert_timed_out(Exchange(data, closed, elapsed))
