"""The `split-head` load: keep-alive connections that write every request head in 8-byte
segments, TCP_NODELAY on and a pause between writes, so each segment leaves as a packet of its
own and the server sees a head arrive in ~9 reads. wrk writes a request in one call and
`covetpy bench` has no such mode, hence this client (asyncio, on uvloop when installed).

Closed loop: each connection sends its next request once the answer to the last one is read
whole (Content-Length bodies only, which is what /plaintext answers everywhere), until the
deadline. It prints one JSON line: requests, errors by kind, latency percentiles (from the
first segment written to the last byte of the answer), so the suite's CPU reading works as
it does for wrk. The client is slow by design (the pauses set its pace); the figure is the
server's CPU per request.

    python -m benches.suite.split PORT [--connections 32] [--seconds 3] [--segment 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from benches.suite.servers import PROJECT_BIN, ROOT

__all__ = ["run"]

LOAD_CPU = "1"
PAUSE_S = 0.001
"""Between two segments: long enough that the server has read the last one (its reads are
µs apart), so the segments are not merged in its receive buffer."""


def _head(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: suite-split\r\n\r\n"
    ).encode()


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Reads one answer (a Content-Length or a chunked body); returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while True:  # RFC 9112 §7.1: size line, data, CRLF; a 0 size, trailers, CRLF to end
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return status
        await reader.readexactly(size + 2)


async def _connection(
    port: int, head: bytes, segment: int, deadline: float, out: dict[str, Any]
) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        out["errors"]["connect"] += 1
        return
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pieces = [head[i : i + segment] for i in range(0, len(head), segment)]
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            for i, piece in enumerate(pieces):
                if i:
                    await asyncio.sleep(PAUSE_S)
                writer.write(piece)
                await writer.drain()
            status = await asyncio.wait_for(_read_answer(reader), 5)
            out["latencies"].append(time.perf_counter() - start)
            out["requests"] += 1
            if not 200 <= status < 400:
                out["errors"]["status"] += 1
    except TimeoutError:
        out["errors"]["timeout"] += 1
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        out["errors"]["read"] += 1  # IndexError, ValueError: an answer that does not parse
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def _main(port: int, path: str, connections: int, seconds: float, segment: int) -> None:
    out: dict[str, Any] = {
        "requests": 0,
        "latencies": [],
        "errors": {k: 0 for k in ("connect", "read", "write", "timeout", "status")},
    }
    started = time.monotonic()
    head = _head(port, path)
    await asyncio.gather(
        *(_connection(port, head, segment, started + seconds, out) for _ in range(connections))
    )
    took = time.monotonic() - started
    lat: list[float] = sorted(out["latencies"]) or [0.0]

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1000

    print(
        "SUITE-JSON "
        + json.dumps(
            {
                "requests": out["requests"],
                "seconds": took,
                "requests_per_s": out["requests"] / took,
                "p50_ms": pct(50),
                "p99_ms": pct(99),
                "p999_ms": pct(99.9),
                "errors": out["errors"],
                "segments_per_request": -(-len(head) // segment),
            }
        ),
        flush=True,
    )


def run(port: int, path: str, connections: int, seconds: float, pin: bool) -> dict[str, Any]:
    """Runs the client once (on the load CPU if `pin`) and returns a suite `Run`'s figures
    (`segments_per_request` aside, which the caller keeps as an extra)."""
    cmd = [
        str(PROJECT_BIN / "python"), "-m", "benches.suite.split", str(port), "--path", path,
        "--connections", str(connections), "--seconds", f"{seconds:g}",
    ]  # fmt: skip
    if pin:
        cmd = ["taskset", "-c", LOAD_CPU, *cmd]
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, env=os.environ
    )
    for line in done.stdout.splitlines():
        if line.startswith("SUITE-JSON "):
            return dict(json.loads(line.removeprefix("SUITE-JSON ")))
    raise RuntimeError(f"split-head client failed: {(done.stderr or done.stdout)[-500:]}")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m benches.suite.split", description=__doc__)
    p.add_argument("port", type=int)
    p.add_argument("--path", default="/plaintext")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--segment", type=int, default=8, help="bytes per write")
    args = p.parse_args(argv)
    coro = _main(args.port, args.path, args.connections, args.seconds, args.segment)
    try:
        import uvloop  # optional: plain asyncio without it
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main(sys.argv[1:])
