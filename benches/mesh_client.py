"""Cost of an outbound call: `covetpy.mesh.Client` (on httpx's transport and on the Rust one)
against bare httpx and the Rust client of `covetpy bench`, one keep-alive connection,
sequential calls to a CovetPy server on loopback.

    .venv/bin/python -m benches.mesh_client [--calls 3000]

The server runs pinned to CPU 0, the caller to CPU 1. Reported per call: the caller's CPU
time (user+system) and the wall time. Used by adrs/0009 (mesh client on httpx).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benches.suite.measure import free_port, start_covetpy, wait_until_answers
from covetpy.mesh import Client, Static

ROOT = Path(__file__).resolve().parent.parent


async def _calls(call: object, n: int) -> tuple[float, float]:
    """(CPU µs per call, wall µs per call) of `n` awaited calls."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        await call()  # type: ignore[operator]
    return (
        (time.process_time() - cpu0) / n * 1e6,
        (time.perf_counter() - wall0) / n * 1e6,
    )


async def python_clients(url: str, n: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient() as bare:
        await bare.get(url)
        out["httpx.AsyncClient"] = await _calls(lambda: bare.get(url), n)
    host = url.split("/")[2]
    transports = {
        "covetpy.mesh.Client (httpx transport)": httpx.AsyncHTTPTransport(),
        "covetpy.mesh.Client (Rust transport)": None,  # the default: RustTransport
    }
    for name, transport in transports.items():
        async with Client(upstreams={"svc": Static([host])}, transport=transport) as mesh:
            await mesh.get("http://svc/")
            out[name] = await _calls(lambda: mesh.get("http://svc/"), n)
    return out


def rust_client(url: str, n: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "covetpy", "bench", url, "-c", "1", "-n", str(n)]
    start = time.perf_counter()
    subprocess.run(["taskset", "-c", "1", *cmd], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Includes the interpreter's start-up (~50 ms): an upper bound on the client's cost.
    return cpu / n * 1e6, wall / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000)
    args = p.parse_args()
    port = free_port()
    server = start_covetpy("examples.hello:app", port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answers(url)
        os.sched_setaffinity(0, {1})
        results = asyncio.run(python_clients(url, args.calls))
        results["covetpy bench (Rust, incl. start-up)"] = rust_client(url, args.calls)
    finally:
        server.terminate()
        server.wait(10)
    print(f"{'client':42} {'CPU us/call':>12} {'wall us/call':>13}")
    for name, (cpu, wall) in results.items():
        print(f"{name:42} {cpu:12.1f} {wall:13.1f}")
    out = ROOT / "benches" / "results" / f"mesh-client-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"calls": args.calls, "results": results}, indent=2))


if __name__ == "__main__":
    main()
