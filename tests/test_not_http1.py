"""First bytes on the cleartext HTTP/1.1 port that cannot start a request line (RFC 9112 §3):
a TLS ClientHello, the HTTP/2 preface, binary noise. They are answered 400 and the connection is
closed at once, with a debug log line naming what arrived (issue 13, point 4: a ClientHello
used to hold the connection until the header timeout)."""

from __future__ import annotations

import ssl

import pytest

from tests.conftest import RunningServer, StartServer, exchange

# The header timeout is far longer than the client waits, so an answer that arrives at all came
# from the first bytes, not from the timeout.
HEADER_TIMEOUT = "120"
# How long the client waits for the answer and the close: generous for a loaded machine, far
# below the header timeout (a real clock is unavoidable: the failure mode is a missing answer).
CLIENT_WAIT = 20.0

# The start of a TLS 1.2+ ClientHello record: handshake (0x16), version 3.1, length, type 1...
# no LF in it, so before the fix the server waited for a line end.
TLS_PREFIX = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 32
# RFC 9113 §3.4, followed by an empty SETTINGS frame as a prior-knowledge client sends it.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    """The basic app, logging at debug level, with a header timeout the tests never reach;
    HTTP/1.1 only (`--http 1`), so the HTTP/2 preface is bytes that cannot start a request
    (with the default `--http auto` it starts HTTP/2: tests/http2)."""
    return start_server(
        "tests.apps.basic:app",
        "--header-timeout",
        HEADER_TIMEOUT,
        "--log-level",
        "debug",
        "--http",
        "1",
    )


def answer_then_close(server: RunningServer, data: bytes) -> bytes:
    """Sends `data` on a fresh connection; returns all the server sent, checking that the
    server closed the connection (rather than the client giving up waiting)."""
    with server.connect() as s:
        answer = exchange(s, data, timeout=CLIENT_WAIT)
        # exchange() stops at EOF or at its timeout; after EOF a read returns b"" at once.
        s.settimeout(CLIENT_WAIT)
        assert s.recv(1) == b"", "the server must close the connection"
    return answer


def refused(server: RunningServer, data: bytes) -> bytes:
    """The answer to `data`: a 400, then the connection closed."""
    answer = answer_then_close(server, data)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    return answer


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (TLS_PREFIX, "TLS handshake on a cleartext port"),
        (H2_PREFACE, "HTTP/2 preface on an HTTP/1.1-only port"),
        (b"\x00\x01\x02\x03\xff", "bytes that cannot start an HTTP/1 request"),
        (b"\r\n\x16\x03\x01\x00", "TLS handshake on a cleartext port"),
    ],
    ids=["tls-client-hello", "h2-preface", "binary", "tls-after-empty-line"],
)
def test_not_http1_is_refused_at_once_and_logged(
    server: RunningServer, data: bytes, what: str
) -> None:
    answer = refused(server, data)
    assert what.encode() in answer
    server.wait_for_log(f"refused: {what}")


def test_a_real_tls_client_is_refused_at_once(server: RunningServer) -> None:
    """What `ssl` sends (random bytes inside, possibly an LF) gets the same answer."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    answer = refused(server, outgoing.read())
    assert b"TLS handshake on a cleartext port" in answer


def test_garbage_after_a_request_is_refused_after_its_answer(server: RunningServer) -> None:
    """On a kept-alive connection too: the request is answered, then the noise refused."""
    answer = answer_then_close(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\x00\x05")
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 400 " in answer


def test_leading_empty_lines_before_a_request_are_still_ignored(server: RunningServer) -> None:
    """RFC 9112 §2.2: a server ignores at least one empty line before the request line."""
    with server.connect() as s:
        answer = exchange(s, b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"Hello, World!")
