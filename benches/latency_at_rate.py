"""Latency at a constant rate (issue 4: p99 under 1 ms at half the peak), with the server's
CPU time per request at that rate.

    .venv/bin/python -m benches.latency_at_rate examples.hello:app --rates peak 40000 66000
    .venv/bin/python -m benches.latency_at_rate benches.apps.static_covetpy:app --rates 66000
    .venv/bin/python -m benches.latency_at_rate peer:socketify --rates peak 40000 55000

`peer:NAME` serves the plaintext route of a peer of the side-by-side suite instead
(benches/suite/servers.py names them; started as the suite starts it, from benches/.venv), so
a peer's tail at the same rates comes from the same command.

Starts `covetpy run APP --workers 1` pinned to CPU 0, warms it up with `covetpy bench` (64
connections, closed loop) pinned to CPU 1, then for each rate runs `covetpy bench --rate R`
(`peak`: closed loop, as fast as answers come) `--runs` times and prints requests/s, p50, p99,
p99.9 and the server's CPU µs per request. Paced requests leave evenly spaced (the tool's
100 µs pacer, rust/bench/timer.rs), so the server sees them one by one rather than in the
batches a closed loop makes; its CPU per request is higher then, and reported, because the
tail at a given rate follows from how busy that makes its CPU. `--stalls` also records the
scheduler during each paced run (`perf sched`, root) and names the other tasks that held a CPU
for more than 0.5 ms at a time (benches/stalls.py): what the tail owes to the machine.
Writes benches/results/latency-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benches.stalls import Recorder, describe
from benches.suite.measure import (
    cpu_seconds,
    free_port,
    process_tree,
    serve,
    start_covetpy,
    wait_until_answers,
)
from benches.suite.scenarios import SCENARIOS
from benches.suite.servers import SERVERS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def bench(
    url: str, rate: str, seconds: int, stalls: bool = False, own: frozenset[int] = frozenset()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One `covetpy bench` run on CPU 1: its JSON report and, with `stalls`, the other tasks
    that held a CPU for long during it (benches/stalls.py)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        paced = [] if rate == "peak" else ["--rate", rate]
        recorder = Recorder(seconds) if stalls else None
        with recorder or contextlib.nullcontext():
            tool = subprocess.Popen(
                ["taskset", "-c", "1", str(BIN / "covetpy"), "bench", url, "-c", "64",
                 "-d", f"{seconds}s", *paced, "--json", out.name],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            _, err = tool.communicate(timeout=seconds + 60)
        if tool.returncode != 0:
            raise RuntimeError(f"covetpy bench failed: {err.decode(errors='replace')}")
        report: dict[str, Any] = json.loads(Path(out.name).read_text())
        found = recorder.stalls(set(own) | {tool.pid, os.getpid()}) if recorder else []
        return report, found


@contextlib.contextmanager
def served(app: str, server_args: tuple[str, ...]) -> Iterator[tuple[str, int]]:
    """Starts `app` (module:app, or peer:NAME) pinned to CPU 0; yields (URL, server PID)."""
    if app.startswith("peer:"):
        name = app.removeprefix("peer:")
        if name not in SERVERS or SERVERS[name].is_covetpy:
            raise SystemExit(f"no peer {name!r}; the suite's peers: {', '.join(SERVERS)}")
        scenario = SCENARIOS["plaintext"]
        with serve(SERVERS[name], scenario, pin=True) as peer:
            yield f"http://127.0.0.1:{peer.port}{scenario.path}", peer.proc.pid
        return
    port = free_port()
    server = start_covetpy(app, port, server_args)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answers(url)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(30)


def measure(
    app: str,
    rates: list[str],
    runs: int,
    seconds: int,
    stalls: bool = False,
    server_args: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    rows = []
    with served(app, server_args) as (url, server_pid):
        bench(url, "peak", 3)  # warm-up
        pids = process_tree(server_pid)
        own = frozenset(pids)
        for rate in rates:
            for run in range(1, runs + 1):
                before = cpu_seconds(pids)
                report, others = bench(url, rate, seconds, stalls and rate != "peak", own)
                cpu = cpu_seconds(pids) - before
                lat = report["latency_us"]["percentiles"]
                row = {
                    "rate": rate,
                    "run": run,
                    "requests_per_s": report["requests_per_s"],
                    "errors": report["errors_total"],
                    "p50_us": lat["50"],
                    "p99_us": lat["99"],
                    "p99_9_us": lat["99.9"],
                    "server_cpu_us_per_request": cpu / max(report["requests"], 1) * 1e6,
                    "stalls": others,
                }
                rows.append(row)
                print(
                    f"{app} rate {rate:>6} run {run}: {row['requests_per_s']:>9,.0f} req/s  "
                    f"p50 {lat['50']:>5} µs  p99 {lat['99']:>6} µs  p99.9 {lat['99.9']:>6} µs  "
                    f"server {row['server_cpu_us_per_request']:.2f} µs CPU/req  "
                    f"errors {row['errors']}",
                    flush=True,
                )
                if stalls and rate != "peak":
                    print(f"    {describe(others)}", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "app",
        help="module:app served by `covetpy run`, answering GET /; or peer:NAME, a peer of the "
        "suite (benches/suite/servers.py) serving its plaintext route",
    )
    p.add_argument("--rates", nargs="+", default=["peak", "40000", "66000"])
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument(
        "--stalls",
        action="store_true",
        help="record the scheduler (perf sched, root) and report other tasks' long runs",
    )
    p.add_argument(
        "--busy-poll-us",
        type=int,
        default=0,
        help="the server's --busy-poll-us (rust/server/spin.rs); 0, its default, is off",
    )
    args = p.parse_args()
    if args.busy_poll_us and args.app.startswith("peer:"):
        p.error("--busy-poll-us is an option of CovetPy's server, not of a peer")
    extra = ("--busy-poll-us", str(args.busy_poll_us)) if args.busy_poll_us else ()
    rows = measure(args.app, args.rates, args.runs, args.seconds, args.stalls, extra)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = ROOT / "benches" / "results" / f"latency-{stamp}.json"
    command = ["python", "-m", "benches.latency_at_rate", *sys.argv[1:]]
    doc = {
        "command": " ".join(command),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "app": args.app,
        "rows": rows,
    }
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
