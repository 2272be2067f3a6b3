"""`covetpy bench` measured side by side with wrk against the same fast target.

    .venv/bin/python -m benches.loadgen_vs_wrk      # 3 x 10 s per tool and scenario

The target is `covetpy run examples.hello:app` (one worker) pinned to CPU 0; each load
generator runs pinned to CPU 1 with one thread and 64 connections. Runs alternate between the
tools (wrk first in even rounds, covetpy bench first in odd ones) so drift in the machine
hits both alike. Two scenarios: plain keep-alive, and 16 requests pipelined per write
(`--pipeline 16` against wrk with benches/pipeline.lua). Besides requests/s, each run records
the CPU time the load generator and the server used per request (user+system, from
getrusage and /proc): the load generator's share shows how far it is from being the bottleneck.
Results go to benches/results/loadgen_vs_wrk-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benches.http_core import ROOT, _cpu_model, cpu_seconds, free_port, parse_wrk, tree, wait_ready

COVETPY = str(ROOT / ".venv" / "bin" / "covetpy")
SCENARIOS = {"keep-alive": 1, "pipeline-16": 16}


@dataclass
class Run:
    scenario: str
    tool: str
    round: int
    requests_per_s: float
    requests: int
    errors: int
    non_2xx: int
    client_cpu_us_per_request: float
    server_cpu_us_per_request: float


def run_tool(tool: str, url: str, depth: int, duration: int, connections: int) -> Run:
    if tool == "wrk":
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", url]
        if depth > 1:
            cmd += ["-s", str(ROOT / "benches" / "pipeline.lua"), "--", str(depth)]
    else:
        out_json = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        cmd = [COVETPY, "bench", url, "-t", "1", "-c", str(connections), "-d", f"{duration}s",
               "--pipeline", str(depth), "-q", "--json", out_json]  # fmt: skip
    cmd = ["taskset", "-c", "1", *cmd]
    # Only this child is reaped meanwhile (the server is not), so the difference in the
    # children's rusage is its CPU time; taskset execs the tool in place.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = done.stdout
    if tool == "wrk":
        rps, total, non2xx, errors, _ = parse_wrk(out)
    else:
        report = json.loads(Path(out_json).read_text())
        os.unlink(out_json)
        rps, total = report["requests_per_s"], report["requests"]
        errors = report["errors_total"]
        non2xx = sum(n for code, n in report["status_counts"].items() if not code.startswith("2"))
    return Run("", tool, 0, rps, total, errors, non2xx, cpu / max(total, 1) * 1e6, 0.0)


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs ({_cpu_model()}), {platform.platform()}",
        flush=True,
    )
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", COVETPY, "run", "examples.hello:app", "--port", str(port),
         "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    runs: list[Run] = []
    try:
        wait_ready(url, server)
        for scenario in args.scenarios.split(","):
            depth = SCENARIOS[scenario]
            for tool in ("wrk", "covetpy-bench"):
                run_tool(tool, url, depth, args.warmup, args.connections)
            for rnd in range(args.runs):
                order = ("wrk", "covetpy-bench") if rnd % 2 == 0 else ("covetpy-bench", "wrk")
                for tool in order:
                    pids = tree(server.pid)
                    before = cpu_seconds(pids)
                    r = run_tool(tool, url, depth, args.duration, args.connections)
                    server_cpu = cpu_seconds(pids) - before
                    r.scenario, r.round = scenario, rnd
                    r.server_cpu_us_per_request = server_cpu / max(r.requests, 1) * 1e6
                    runs.append(r)
                    print(
                        f"  {scenario:12} {tool:14} round {rnd}  {r.requests_per_s:>10,.0f} req/s"
                        f"  client {r.client_cpu_us_per_request:5.2f} us CPU/req"
                        f"  server {r.server_cpu_us_per_request:5.2f} us CPU/req"
                        f"  errors {r.errors}  non-2xx {r.non_2xx}",
                        flush=True,
                    )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    print(
        f"\nmedians of {args.runs} x {args.duration}s, {args.connections} connections, 1 thread;"
        " server on CPU 0, load generator on CPU 1"
    )
    print(f"{'scenario':12} {'tool':14} {'req/s':>10} {'client us/req':>14} {'server us/req':>14}")
    summary = []
    for scenario in args.scenarios.split(","):
        for tool in ("wrk", "covetpy-bench"):
            rs = [r for r in runs if r.scenario == scenario and r.tool == tool]
            row = {
                "scenario": scenario,
                "tool": tool,
                "requests_per_s": statistics.median(r.requests_per_s for r in rs),
                "client_cpu_us_per_request": statistics.median(
                    r.client_cpu_us_per_request for r in rs
                ),
                "server_cpu_us_per_request": statistics.median(
                    r.server_cpu_us_per_request for r in rs
                ),
                "errors": sum(r.errors for r in rs),
                "non_2xx": sum(r.non_2xx for r in rs),
            }
            summary.append(row)
            print(
                f"{scenario:12} {tool:14} {row['requests_per_s']:>10,.0f}"
                f" {row['client_cpu_us_per_request']:>14.2f}"
                f" {row['server_cpu_us_per_request']:>14.2f}"
            )
        wrk_row, ours = summary[-2], summary[-1]
        ratio = ours["requests_per_s"] / wrk_row["requests_per_s"]
        print(f"{'':12} covetpy bench / wrk: {ratio:.3f}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = ROOT / "benches" / "results" / f"loadgen_vs_wrk-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(
                    [Path(sys.executable).name, "-m", "benches.loadgen_vs_wrk", *sys.argv[1:]]
                ),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "cpu": _cpu_model(),
                    "python": platform.python_version(),
                    "wrk": _wrk_version(),
                },
                "summary": summary,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
