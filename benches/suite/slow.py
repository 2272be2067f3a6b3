"""The slow clients of the `slow-mix` scenario, run beside wrk's normal load for one run:

- slowloris: a request head sent one byte a second and never finished (after the request
  line and Host it goes on with an endless header value), the way a client ties up a
  server that waits for whole heads without a deadline;
- slow readers: 8 pipelined GETs of /big (64 KiB each) in one write, then 1 KiB read a second
  through a 4 KiB receive buffer, so the server's answers back up in its send buffer and its
  own memory.

Each client ends in one of: `held` (still open at the deadline), `closed` (the server closed
it; with the status it answered first, e.g. 408, when it answered), `reset`. Every socket is
closed when the run ends. Prints one JSON line with each client's outcome.

    python -m benches.suite.slow PORT [--seconds 4] [--loris 2] [--readers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from benches.suite.servers import PROJECT_BIN, ROOT

__all__ = ["SlowClients", "summary"]

LOAD_CPU = "1"
PIPELINED = 8
RECEIVE_BUFFER = 4096
READ_PER_S = 1024


@dataclass
class Outcome:
    kind: str
    outcome: str = "held"
    after_s: float | None = None
    """When the server cut it off, in seconds after it connected."""
    bytes: int = 0
    """Sent (slowloris) or received (slow reader)."""


def _status(data: bytes) -> str:
    parts = data.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 1 and data.startswith(b"HTTP/") else ""


async def _connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def _loris(port: int, deadline: float, out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    sock = await _connect(port)
    start = time.monotonic()
    head = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100_000
    answered = b""
    try:
        while time.monotonic() < deadline:
            await loop.sock_sendall(sock, head[out.bytes : out.bytes + 1])
            out.bytes += 1
            try:
                left = max(0.01, min(1.0, deadline - time.monotonic()))
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), left)
            except TimeoutError:
                continue
            if not chunk:
                status = _status(answered)
                out.outcome = f"closed after {status}" if status else "closed"
                out.after_s = time.monotonic() - start
                return
            answered += chunk
    except OSError:
        out.outcome, out.after_s = "reset", time.monotonic() - start
    finally:
        sock.close()


async def _reader(port: int, deadline: float, out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    sock = await _connect(port, RECEIVE_BUFFER)
    start = time.monotonic()
    first = b""
    try:
        request = b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        await loop.sock_sendall(sock, request * PIPELINED)
        while time.monotonic() < deadline:
            try:
                left = max(0.01, deadline - time.monotonic())
                chunk = await asyncio.wait_for(loop.sock_recv(sock, READ_PER_S), left)
            except TimeoutError:
                break
            if not chunk:
                status = _status(first)
                out.outcome = f"closed (first answer {status})" if status else "closed"
                out.after_s = time.monotonic() - start
                return
            first = first or chunk
            out.bytes += len(chunk)
            await asyncio.sleep(1.0)
        if first and _status(first) != "200":
            out.outcome = f"held (first answer {_status(first)})"
    except OSError:
        out.outcome, out.after_s = "reset", time.monotonic() - start
    finally:
        sock.close()


async def _main(port: int, seconds: float, loris: int, readers: int) -> None:
    deadline = time.monotonic() + seconds
    outcomes = [Outcome("slowloris") for _ in range(loris)]
    outcomes += [Outcome("slow reader") for _ in range(readers)]
    tasks = [
        _loris(port, deadline, o) if o.kind == "slowloris" else _reader(port, deadline, o)
        for o in outcomes
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for o, r in zip(outcomes, results, strict=True):
        if isinstance(r, BaseException):
            o.outcome = f"failed: {r!r}"[:120]
    print("SUITE-JSON " + json.dumps([asdict(o) for o in outcomes]), flush=True)


def summary(outcomes: list[dict[str, Any]]) -> str:
    """E.g. "slowloris: 2 held; slow reader: 1 held, 1 closed after 408 (10.0 s)"."""
    parts = []
    for kind in dict.fromkeys(o["kind"] for o in outcomes):
        counts: dict[str, int] = {}
        for o in outcomes:
            if o["kind"] == kind:
                when = f" ({o['after_s']:.1f} s)" if o["after_s"] is not None else ""
                counts[o["outcome"] + when] = counts.get(o["outcome"] + when, 0) + 1
        parts.append(f"{kind}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return "; ".join(parts)


class SlowClients:
    """The slow clients as a process on the load CPU, for the length of one measured run:
    `with SlowClients(port, seconds, pin) as slow: <wrk>`, then `slow.outcomes`."""

    def __init__(self, port: int, seconds: float, pin: bool, loris: int = 2, readers: int = 2):
        cmd = [
            str(PROJECT_BIN / "python"), "-m", "benches.suite.slow", str(port),
            "--seconds", f"{seconds:g}", "--loris", str(loris), "--readers", str(readers),
        ]  # fmt: skip
        self.cmd = ["taskset", "-c", LOAD_CPU, *cmd] if pin else cmd
        self.seconds = seconds
        self.outcomes: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SlowClients:
        self._proc = subprocess.Popen(
            self.cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(0.5)  # connected and sending before the normal load starts
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        try:
            out, err = self._proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError("slow clients did not finish") from None
        for line in out.splitlines():
            if line.startswith("SUITE-JSON "):
                self.outcomes = list(json.loads(line.removeprefix("SUITE-JSON ")))
                return
        if exc[0] is None:
            raise RuntimeError(f"slow clients failed: {(err or out)[-500:]}")


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m benches.suite.slow", description=__doc__)
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--loris", type=int, default=2)
    p.add_argument("--readers", type=int, default=2)
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.port, args.seconds, args.loris, args.readers))


if __name__ == "__main__":
    main(sys.argv[1:])
