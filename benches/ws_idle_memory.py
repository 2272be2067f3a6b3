"""Server memory per idle WebSocket: open 10,000 sockets to one worker and divide the growth of
its resident memory (the whole process tree, Python included) by their number; then check the
server still answers an HTTP request and an echo.

    .venv/bin/python -m benches.ws_idle_memory [--servers covetpy,socketify,...] [--sockets N]

Each server runs the app of the WebSocket suite scenarios (benches/apps/ws_*.py), started as
the suite starts it (benches/suite/servers.py), pinned to CPU 0; the sockets are opened from
this process (a raw upgrade each, nothing more: no Python WebSocket library's buffers on the
client side to confuse anyone) and stay silent while memory is read. Each socket is an echo
socket, so the server holds what it would for a connected client: the socket, its buffers
and, for the Python servers, the handler coroutine waiting for a message. Writes
benches/results/ws-idle-memory-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import http.client
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benches.suite import machine
from benches.suite.measure import process_tree, serve
from benches.suite.scenarios import SCENARIOS, Scenario
from benches.suite.servers import ROOT, SERVERS, Server

SERVERS_COMPARED = ("covetpy", "socketify", "granian-asgi", "uvicorn-asgi")
# Upgrades in flight at once: below every server's listen backlog, so no SYN is dropped and
# retried a second later.
CONCURRENCY = 200
# How long to let the server settle after the last upgrade before reading its memory.
SETTLE_S = 2.0


def _raise_open_files(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < want:
        sys.exit(f"RLIMIT_NOFILE is {soft}; {want} files are needed (raise the hard limit)")


def rss_kib(pids: list[int]) -> int:
    """The sum of the resident set sizes (VmRSS) of `pids`, in KiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def _upgrade(port: int, path: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise RuntimeError(f"upgrade refused: {head[:80]!r}")
    return writer


async def _open_all(port: int, path: str, n: int) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> asyncio.StreamWriter:
        async with gate:
            return await _upgrade(port, path)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _echo_once(port: int, path: str) -> bool:
    """One more socket sends a masked text frame and gets it back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        mask = os.urandom(4)
        payload = b"still here"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        head = await asyncio.wait_for(reader.readexactly(2), 30)
        body = await asyncio.wait_for(reader.readexactly(head[1] & 0x7F), 30)
        return body == payload
    finally:
        writer.close()


def _http_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/plaintext")
        response = conn.getresponse()
        return response.status == 200 and response.read() == b"Hello, World!"
    except OSError:
        return False
    finally:
        conn.close()


def _server(name: str, sockets: int) -> Server:
    """Server `name` as the suite runs it; CovetPy with its per-worker limits (10,000
    connections and 10,000 WebSockets by default, 503 beyond) raised above `sockets`, so the
    HTTP request and the echo checked after opening them are not refused by design."""
    server = SERVERS[name]
    if not server.is_covetpy:
        return server
    limit = str(sockets + 100)
    base = server.command

    def command(port: int, scenario: Scenario) -> list[str]:
        return [*base(port, scenario), "--max-connections", limit, "--ws-max-connections", limit]

    return dataclasses.replace(server, command=command)


def measure(name: str, sockets: int) -> dict[str, Any]:
    """Opens `sockets` idle sockets to server `name` and reports its memory per socket."""
    server = _server(name, sockets)
    scenario = SCENARIOS["ws-echo"]
    assert scenario.ws is not None
    path = scenario.ws.path
    with serve(server, scenario, pin=True) as served:
        pids = process_tree(served.proc.pid)
        # One socket first, so lazily built state (the first upgrade's imports and
        # buffers) is not charged to the 10,000.
        asyncio.run(_echo_once(served.port, path))
        time.sleep(SETTLE_S)
        before = rss_kib(pids)

        async def hold() -> dict[str, Any]:
            started = time.monotonic()
            writers = await _open_all(served.port, path, sockets)
            opened_s = time.monotonic() - started
            await asyncio.sleep(SETTLE_S)
            after = rss_kib(process_tree(served.proc.pid))
            http_ok = await asyncio.to_thread(_http_ok, served.port)
            echo_ok = await _echo_once(served.port, path)
            for w in writers:
                w.close()
            return {"after": after, "opened_s": opened_s, "http": http_ok, "echo": echo_ok}

        held = asyncio.run(hold())
        served.check_alive()
    grown = held["after"] - before
    return {
        "server": name,
        "command": served.command,
        "sockets": sockets,
        "rss_before_kib": before,
        "rss_after_kib": held["after"],
        "kib_per_socket": round(grown / sockets, 2),
        "seconds_to_open": round(held["opened_s"], 2),
        "answers_http_after": held["http"],
        "echoes_after": held["echo"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS_COMPARED))
    parser.add_argument("--sockets", type=int, default=10_000)
    args = parser.parse_args(argv)
    # This process holds the client ends and the server (a child, which inherits the limit)
    # the others, each within its own limit; a thousand more for everything else.
    _raise_open_files(args.sockets + 1024)
    results = []
    for name in [n.strip() for n in args.servers.split(",") if n.strip()]:
        try:
            r = measure(name, args.sockets)
        except (TimeoutError, RuntimeError, OSError) as exc:
            r = {"server": name, "failed": str(exc)[:300]}
            print(f"{name:14} failed: {r['failed']}", flush=True)
        else:
            print(
                f"{name:14} {r['kib_per_socket']:8.2f} KiB/socket  "
                f"(RSS {r['rss_before_kib'] / 1024:.0f} -> {r['rss_after_kib'] / 1024:.0f} MiB, "
                f"{r['sockets']:,} sockets opened in {r['seconds_to_open']} s; "
                f"HTTP after: {'ok' if r['answers_http_after'] else 'FAILED'}, "
                f"echo after: {'ok' if r['echoes_after'] else 'FAILED'})",
                flush=True,
            )
        results.append(r)
    out = ROOT / "benches" / "results" / f"ws-idle-memory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python -m benches.ws_idle_memory", *argv]),
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "machine": machine.describe(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
