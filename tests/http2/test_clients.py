"""Real HTTP/2 clients against `covetpy run`: httpx (h2 prior knowledge: `http1=False,
http2=True` on http://), curl (`--http2-prior-knowledge`) and h2load (nghttp2's load
generator), plus what `--http` changes on a cleartext port.

RFC 9113 §3.3: a client that knows the server speaks HTTP/2 starts with the preface at once
("prior knowledge"); with `--http auto` the same port also serves HTTP/1.1 (RFC 9112).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, StartServer, read_response, running_server
from tests.http2.app import pattern
from tests.http2.frames import (
    NO_ERROR,
    PREFACE,
    Peer,
    error_name,
    read_until_close,
    settings_frame,
)

APP = "tests.http2.app:app"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """The HTTP/2 app, `--http auto`, logging one access-log line per request."""
    with running_server(APP, "--workers", "1", "--access-log") as s:
        yield s


def h2_client(**kwargs: object) -> httpx.Client:
    """httpx speaking HTTP/2 with prior knowledge over cleartext (RFC 9113 §3.3)."""
    return httpx.Client(http1=False, http2=True, trust_env=False, timeout=30, **kwargs)  # type: ignore[arg-type]


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    assert shutil.which("curl"), "curl is not installed: `make services` installs it"
    return subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "30", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


# ---------------------------------------------------------------------------------------------
# httpx
# ---------------------------------------------------------------------------------------------


def test_httpx_prior_knowledge(server: RunningServer) -> None:
    """RFC 9113 §3.3: httpx with prior knowledge gets HTTP/2 answers; the handler sees
    version "2" over scheme "http"."""
    with h2_client(base_url=server.url) as c:
        r = c.get("/")
        assert (r.status_code, r.http_version, r.text) == (200, "HTTP/2", "Hello, World!")
        info = c.get("/info?x=1").json()
    assert (info["version"], info["scheme"], info["query"]) == ("2", "http", "x=1")


def test_httpx_streamed_response(server: RunningServer) -> None:
    """RFC 9113 §6.9: a streamed response of 200 KB (over the 64 KiB initial window) arrives
    whole through flow control, read as it comes."""
    expected = b"".join(f"chunk {i:04d}\n".encode() * 100 for i in range(200))
    with h2_client(base_url=server.url) as c, c.stream("GET", "/stream?chunks=200") as r:
        assert (r.status_code, r.http_version) == (200, "HTTP/2")
        pieces = list(r.iter_bytes())
    assert b"".join(pieces) == expected


@pytest.mark.parametrize("size", [1 << 20, 3 << 20], ids=["1MiB", "3MiB"])
def test_httpx_large_post_is_echoed(server: RunningServer, size: int) -> None:
    """RFC 9113 §6.9: a request body of 1 MiB (the whole initial stream window) and of 3 MiB
    (beyond the connection window as well) only arrives if the server returns window as its
    handler reads: echoed byte for byte, and counted with the right digest."""
    body = pattern(size)
    with h2_client(base_url=server.url) as c:
        r = c.post("/echo", content=body)
        assert (r.status_code, r.http_version, len(r.content)) == (200, "HTTP/2", size)
        assert r.content == body
        got = c.post("/count", content=body).json()
    assert got == {"received": size, "sha256": hashlib.sha256(body).hexdigest()}


def test_many_concurrent_streams_on_one_connection(server: RunningServer) -> None:
    """RFC 9113 §5: 60 requests at once from one httpx client share one connection (one peer
    port) as concurrent streams, and each gets its own answer."""

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            http1=False, http2=True, trust_env=False, timeout=30, base_url=server.url
        ) as c:
            return await asyncio.gather(*(c.get(f"/info?i={i}") for i in range(60)))

    answers = asyncio.run(run())
    assert all(r.status_code == 200 and r.http_version == "HTTP/2" for r in answers)
    infos = [r.json() for r in answers]
    assert [i["query"] for i in infos] == [f"i={i}" for i in range(60)]
    assert len({i["peer_port"] for i in infos}) == 1, "not one connection"


def test_http1_on_the_same_port(server: RunningServer) -> None:
    """`--http auto`: an HTTP/1.1 client on the same port is served HTTP/1.1 (RFC 9112), next
    to an HTTP/2 one."""
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as c:
        r = c.get("/info")
    assert (r.status_code, r.http_version, r.json()["version"]) == (200, "HTTP/1.1", "1.1")
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(s, timeout=10)
    assert (status, body) == (200, b"Hello, World!")
    with h2_client(base_url=server.url) as c:
        assert c.get("/").http_version == "HTTP/2"


# ---------------------------------------------------------------------------------------------
# curl and h2load (nghttp2)
# ---------------------------------------------------------------------------------------------


def test_curl_prior_knowledge(server: RunningServer) -> None:
    """RFC 9113 §3.3: curl --http2-prior-knowledge gets an HTTP/2 200."""
    done = curl("--http2-prior-knowledge", "-w", "\n%{http_version} %{response_code}", server.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"Hello, World!\n2 200"


def test_curl_uploads_a_file(server: RunningServer, tmp_path: Path) -> None:
    """RFC 9113 §6.9: curl sends 2 MiB over HTTP/2 (flow-controlled by the server's windows)."""
    body = pattern(2 << 20)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(body)
    done = curl(
        "--http2-prior-knowledge",
        "--data-binary", f"@{upload}",
        "-H", "content-type: application/octet-stream",
        f"{server.url}/count",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "received": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def test_curl_h2c_upgrade_is_answered(server: RunningServer) -> None:
    """RFC 9113 §3.1: the HTTP/1.1 `Upgrade: h2c` mechanism is deprecated; a server that does
    not switch answers the request over HTTP/1.1. Either way curl --http2 (which asks for the
    upgrade) gets its 200 and body."""
    done = curl("--http2", "-w", "\n%{http_version} %{response_code}", server.url)
    assert done.returncode == 0, done.stderr
    body, _, tail = done.stdout.rpartition(b"\n")
    assert body == b"Hello, World!"
    assert tail in (b"1.1 200", b"2 200"), tail


@pytest.mark.timeout(180)
def test_h2load(server: RunningServer) -> None:
    """RFC 9113 §5.1.2 / §8: h2load, 1,000 requests over 4 connections with 10 concurrent
    streams each: all succeed, none errored, all 2xx."""
    assert shutil.which("h2load"), "h2load is not installed: `make services` installs it"
    done = subprocess.run(
        ["h2load", "-n", "1000", "-c", "4", "-m", "10", f"{server.url}/"],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    assert m, out
    total, _, done_, succeeded, failed, errored, timeouts = map(int, m.groups())
    assert (total, done_, succeeded, failed, errored, timeouts) == (1000, 1000, 1000, 0, 0, 0), out
    codes = re.search(r"status codes: (\d+) 2xx", out)
    assert codes and int(codes.group(1)) == 1000, out
    assert "Application protocol: h2c" in out, out


# ---------------------------------------------------------------------------------------------
# What --http changes
# ---------------------------------------------------------------------------------------------


def test_http_1_refuses_the_h2_preface(start_server: StartServer) -> None:
    """`--http 1` (HTTP/1.1 only): the HTTP/2 preface is not a request line: the HTTP/1.1
    parser answers 400 or 505 and closes (issue 17's spec); it is not served as HTTP/2 (no
    SETTINGS frame comes back)."""
    s = start_server(APP, "--http", "1")
    with s.connect() as sock:
        sock.sendall(PREFACE + settings_frame({}))
        answer = read_until_close(sock)
    assert re.match(rb"HTTP/1\.1 (400|505) ", answer), answer[:200]
    assert not answer.startswith(b"\x00"), "answered with HTTP/2 frames"
    with httpx.Client(base_url=s.url, trust_env=False, timeout=30) as c:
        assert c.get("/").status_code == 200


def test_http_1_h2_client_is_not_served(start_server: StartServer) -> None:
    """`--http 1`: an httpx prior-knowledge HTTP/2 client gets no HTTP/2 answer."""
    s = start_server(APP, "--http", "1")
    with h2_client(base_url=s.url) as c, pytest.raises(httpx.HTTPError):
        c.get("/")


def test_http_2_refuses_http1(start_server: StartServer) -> None:
    """`--http 2` (HTTP/2 only): an HTTP/1.1 request is an invalid preface (RFC 9113 §3.4): it
    is not answered as HTTP/1.1, and the connection is closed; HTTP/2 is served."""
    s = start_server(APP, "--http", "2")
    with s.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_close(sock)
    assert not answer.startswith(b"HTTP/"), answer[:200]
    with (
        httpx.Client(base_url=s.url, trust_env=False, timeout=30) as c,
        pytest.raises(httpx.HTTPError),
    ):
        c.get("/")
    with h2_client(base_url=s.url) as c:
        assert c.get("/").http_version == "HTTP/2"


# ---------------------------------------------------------------------------------------------
# Access log and drain
# ---------------------------------------------------------------------------------------------


def test_access_log_names_http2(server: RunningServer) -> None:
    """Issue 17's spec: the access-log line of an HTTP/2 request says "HTTP/2"."""
    marker = "h2-access-log-marker"
    with h2_client(base_url=server.url) as c:
        assert c.get(f"/json?{marker}=1").status_code == 200
    server.wait_for_log(marker, timeout=30)
    lines = [line for line in server.lines if marker in line]
    assert lines and "HTTP/2" in lines[0], lines


@pytest.mark.timeout(90)
def test_drain_sends_goaway_and_finishes_the_stream(start_server: StartServer) -> None:
    """RFC 9113 §6.8 and issue 17's spec: on SIGTERM the server sends GOAWAY(NO_ERROR) naming
    the last stream it processes, lets that stream finish, then closes; the process exits 0."""
    s = start_server(APP)
    with Peer.open(s) as peer:
        peer.request(1, "GET", "/slow?ms=1500")
        peer.ping_roundtrip()  # the server has read the request
        s.proc.send_signal(signal.SIGTERM)
        r = peer.response(1)
        assert r.status == 200 and json.loads(r.body)["version"] == "2", r
        peer.read_to_close()
        goaways = [f for f in peer.frames if f.type == 0x7]
        assert goaways, f"no GOAWAY before the close: {peer.summary()}"
        assert all(g.error_code == NO_ERROR for g in goaways), [
            error_name(g.error_code) for g in goaways
        ]
        assert goaways[-1].last_stream_id >= 1, peer.summary()
    assert s.wait(30) == 0, s.log
