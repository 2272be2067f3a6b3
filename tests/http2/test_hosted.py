"""A mounted ASGI app over HTTP/2 (RFC 9113 §8.1): its request body reaches `receive` chunk by
chunk while the client sends it, under HTTP/2 flow control (§5.2), as over HTTP/1.1
(tests/hosting/test_asgi_upload.py); and its scope says `http_version` "2"."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server, rss_bytes, worker_pid

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with covetpy_server("tests.hosting.apps.raw_asgi:app", "--max-body-size", str(256 * MiB)) as s:
        yield s


def h2c() -> httpx.Client:
    """httpx speaking HTTP/2 with prior knowledge (no HTTP/1.1 at all)."""
    return httpx.Client(http1=False, http2=True, timeout=120)


def blocks(block: bytes, count: int) -> Iterator[bytes]:
    """The body in pieces: httpx's HTTP/2 client slices one large `bytes` body per frame,
    copying the rest each time (quadratic: 64 MiB took 16 s where curl takes 0.3 s)."""
    for _ in range(count):
        yield block


def test_an_upload_streams_into_the_app_in_bounded_memory(server: RunningServer) -> None:
    total, block = 64 * MiB, os.urandom(MiB)
    pid = worker_pid(server)
    before = rss_bytes(pid)
    with h2c() as client:
        r = client.post(f"{server.url}/upload", content=blocks(block, total // MiB))
    assert r.http_version == "HTTP/2"
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["bytes"] == total
    assert doc["sha256"] == hashlib.sha256(block * (total // MiB)).hexdigest()
    # Streamed, not read whole first: many chunks, none near the whole body.
    assert doc["chunks"] > 16 and doc["biggest"] <= 2 * MiB, doc
    # The worker did not hold the body (64 MiB): the pipe (256 KiB) and the stream windows
    # (1 + 2 MiB) bound it, with the allocator's slack.
    assert rss_bytes(pid) - before < 40 * MiB


def test_a_body_over_the_limit_is_refused_mid_stream() -> None:
    """413 while the body is arriving, then RST_STREAM NO_ERROR: the rest is not read
    (RFC 9113 §8.1: a server may answer before the request is complete, then ask the client
    to stop sending). A raw client: httpx gives up sending instead of reading the early
    answer, and curl 7.88 discards an answer followed by RST_STREAM NO_ERROR (exit 92)."""
    with covetpy_server("tests.hosting.apps.raw_asgi:app", "--max-body-size", "65536") as small:
        sock = socket.create_connection(("127.0.0.1", small.port), timeout=10)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        fields = [(":method", "POST"), (":scheme", "http"), (":authority", "x")]
        conn.send_headers(1, [*fields, (":path", "/upload"), ("content-length", str(4 * MiB))])
        sent = 0
        while sent < 256 * 1024 and (n := min(16384, conn.local_flow_control_window(1))):
            conn.send_data(1, b"x" * n)
            sent += n
        sock.sendall(conn.data_to_send())
        status, ended, reset = None, False, None
        with sock:
            while reset is None:
                data = sock.recv(65536)
                assert data, "closed before the stream was reset"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = True
                    elif isinstance(event, h2.events.StreamReset):
                        reset = event.error_code
                sock.sendall(conn.data_to_send())
        assert (status, ended, reset) == (b"413", True, 0)


def test_the_scope_says_http2(server: RunningServer) -> None:
    with h2c() as client:
        r = client.get(f"{server.url}/scope")
    assert r.status_code == 200
    assert r.json()["http_version"] == "2"
