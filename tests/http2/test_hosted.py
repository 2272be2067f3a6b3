"""A mounted ASGI app over HTTP/2 (RFC 9113 §8.1): its request body reaches `receive` chunk by
chunk while the client sends it, under HTTP/2 flow control (§5.2), as over HTTP/1.1
(tests/hosting/test_asgi_upload.py); and its scope says `http_version` "2"."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

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


def test_an_upload_streams_into_the_app_in_bounded_memory(server: RunningServer) -> None:
    total, block = 64 * MiB, os.urandom(MiB)
    pid = worker_pid(server)
    before = rss_bytes(pid)
    with h2c() as client:
        r = client.post(f"{server.url}/upload", content=b"".join([block] * (total // MiB)))
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
    """413 while the body is arriving; the rest is not read (RST_STREAM NO_ERROR, §8.1)."""
    with covetpy_server("tests.hosting.apps.raw_asgi:app", "--max-body-size", "65536") as small:
        with h2c() as client:
            r = client.post(f"{small.url}/upload", content=b"x" * (4 * MiB))
        assert r.status_code == 413


def test_the_scope_says_http2(server: RunningServer) -> None:
    with h2c() as client:
        r = client.get(f"{server.url}/scope")
    assert r.status_code == 200
    assert r.json()["http_version"] == "2"
