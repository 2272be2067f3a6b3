"""No leaks: a million requests through every kind of handler leave the worker as big as it was.

One worker serves tests/apps/leak_app.py. After a warm-up (allocator arenas, caches and
free lists reach their working size), the worker's RSS and its count of live Python objects
are read; then 1,000,000 requests go through sync, async, streaming, failing (500) and
HTTPException (404) handlers with `covetpy bench`, and both are read again. RSS may grow by
less than 5 MB and the object count by less than 1,000 (a leak of one object per request
would be 1,000,000).

The worker calls gc.freeze() after start-up; gc.get_objects() does not list the frozen
generation, so the count is of objects made since then - which is where a leak would show.

Takes 20-60 s depending on the machine; the figures are printed (run with `-s`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, RunningServer, StartServer, read_response

TOTAL = 1_000_000
WARM_UP = 60_000
# Requests per route: the five kinds of handler get 200,000 each; the streaming kind is split
# between a sync and an async generator.
PLAN = {
    "/sync": (TOTAL // 5, 200),
    "/async": (TOTAL // 5, 200),
    "/stream": (TOTAL // 10, 200),
    "/astream": (TOTAL // 10, 200),
    "/error": (TOTAL // 5, 500),
    "/missing": (TOTAL // 5, 404),
}
MAX_RSS_GROWTH_KB = 5 * 1024
MAX_OBJECT_GROWTH = 1000


def stats(server: RunningServer) -> dict[str, int]:
    """The worker's pid, live (unfrozen) objects after gc.collect(), and 500s logged."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = read_response(s, timeout=10)
    assert status == 200, body
    result: dict[str, int] = json.loads(body)
    return result


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` in kB (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def drive(server: RunningServer, path: str, n: int, status: int, out: Path) -> float:
    """`n` requests to `path` on 32 connections; all must get `status`. Returns req/s."""
    done = subprocess.run(
        [sys.executable, "-m", "covetpy", "bench", server.url + path, "-c", "32",
         "-n", str(n), "-q", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["errors_total"] == 0, (path, report["errors"])
    assert report["status_counts"] == {str(status): n}, (path, report["status_counts"])
    return float(report["requests_per_s"])


@pytest.mark.timeout(300)
def test_a_million_requests_leave_rss_and_object_count_flat(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server("tests.apps.leak_app:app", workers=1)
    pid = stats(server)["pid"]
    assert pid != server.proc.pid, "expected a worker process under the supervisor"

    for path, (_, status) in PLAN.items():
        drive(server, path, WARM_UP // len(PLAN), status, tmp_path / "warm.json")
    before = stats(server)
    rss_before = rss_kb(pid)

    started = time.monotonic()
    rates = {}
    trajectory = []
    for path, (n, status) in PLAN.items():
        rates[path] = drive(server, path, n, status, tmp_path / "run.json")
        trajectory.append(f"{path} {rss_kb(pid) / 1024:.1f}")
    duration = time.monotonic() - started

    after = stats(server)
    rss_after = rss_kb(pid)
    growth_kb = rss_after - rss_before
    objects = after["objects"] - before["objects"]
    print(
        f"\nleaks: {TOTAL:,} requests in {duration:.1f} s after a {WARM_UP:,}-request warm-up; "
        f"worker RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB "
        f"({growth_kb:+d} kB); live objects {before['objects']} -> {after['objects']} "
        f"({objects:+d})\n  RSS (MB) after each route: {', '.join(trajectory)}\n"
        f"  req/s: {', '.join(f'{p} {r:,.0f}' for p, r in rates.items())}"
    )

    # Every failing request went through the unhandled-exception path (and was logged).
    assert after["unhandled"] == (WARM_UP // len(PLAN)) + PLAN["/error"][0]
    assert growth_kb < MAX_RSS_GROWTH_KB, f"worker RSS grew by {growth_kb} kB"
    assert objects < MAX_OBJECT_GROWTH, f"{objects} more live objects"
