"""Server CPU time per request of one or more apps, interleaved, medians reported.

    .venv/bin/python -m benches.cpu_per_request benches.apps.static_covetpy:app examples.hello:app
    .venv/bin/python -m benches.cpu_per_request examples.hello:app \\
        --alt-pythonpath /path/to/an/older/checkout/python      # A/B against another build

Each run starts `covetpy run APP --workers 1` pinned to CPU 0 (no warm standby), warms it up
with wrk (one thread, 64 connections) pinned to CPU 1, then reads the worker's user+system time
from /proc around a timed wrk run: CPU µs per request = CPU seconds / requests, also per
thread name (the worker's `python` thread runs the handlers, its `covetpy-io-N` threads the
sockets). Runs of the variants alternate, so drift on a shared machine hits them alike. Used
for the README's floor of a response that never enters Python, and for the before/after cost
of issue 5. Apps read their own environment: `BENCH_MIDDLEWARE=1 ... -m benches.cpu_per_request
benches.apps.middleware_covetpy:app --path /plaintext`.
Writes benches/results/cpu-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benches.suite.measure import (
    cpu_seconds,
    free_port,
    process_tree,
    start_covetpy,
    thread_cpu_seconds,
    wait_until_answers,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_once(
    app: str, path: str, seconds: int, pythonpath: str | None, script: str | None = None
) -> tuple[float, float, dict[str, float]]:
    """(requests/s, server CPU µs per request, the same per thread name)."""
    port = free_port()
    env = dict(os.environ, COVETPY_IO=os.environ.get("COVETPY_IO", "epoll"))
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    app, *extra = app.split()  # "module:app --metrics": options for `covetpy run`
    server = start_covetpy(app, port, extra, env)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wait_until_answers(url)
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c64", *(["-s", script] if script else [])]
        subprocess.run([*wrk, "-d2s", url], check=True, capture_output=True)
        pids = process_tree(server.pid)
        before, threads_before = cpu_seconds(pids), thread_cpu_seconds(pids)
        out = subprocess.run(
            [*wrk, f"-d{seconds}s", url], check=True, capture_output=True, text=True
        ).stdout
        cpu = cpu_seconds(pids) - before
        threads = {
            name: (t - threads_before.get(name, 0.0))
            for name, t in thread_cpu_seconds(pids).items()
        }
        requests = max(
            1, int(next(ln for ln in out.splitlines() if "requests in" in ln).split()[0])
        )
        per_thread = {name: t / requests * 1e6 for name, t in threads.items()}
        return requests / seconds, cpu / requests * 1e6, per_thread
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "apps",
        nargs="+",
        help="module:app to serve, each one variant; options for `covetpy run` may follow in "
        "the same argument ('examples.hello:app --metrics')",
    )
    p.add_argument("--path", default="/", help="the path requested (default /)")
    p.add_argument("--script", help="a wrk Lua script for the requests (benches/post.lua: POST)")
    p.add_argument("--alt-pythonpath", help="also run each app with this PYTHONPATH (A/B)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=int, default=8)
    args = p.parse_args()
    variants = [(app, None) for app in args.apps]
    if args.alt_pythonpath:
        variants += [(app, args.alt_pythonpath) for app in args.apps]
    runs: dict[str, list[tuple[float, float]]] = {}
    threads: dict[str, list[dict[str, float]]] = {}
    for i in range(args.runs):
        for app, pp in variants:
            name = app + (f" [PYTHONPATH={pp}]" if pp else "")
            rps, cpu, per_thread = run_once(app, args.path, args.seconds, pp, args.script)
            runs.setdefault(name, []).append((rps, cpu))
            threads.setdefault(name, []).append(per_thread)
            print(f"run {i + 1}: {name:50} {rps:>10,.0f} req/s  {cpu:5.2f} µs CPU/req", flush=True)
    summary: dict[str, dict[str, Any]] = {
        name: {
            "requests_per_s": statistics.median(r for r, _ in rs),
            "cpu_us_per_request": statistics.median(c for _, c in rs),
            "cpu_us_min_max": [min(c for _, c in rs), max(c for _, c in rs)],
            # Which thread the time is spent on: the worker's "python" thread runs the
            # handlers, its covetpy-io-N threads the sockets.
            "cpu_us_per_thread": {
                t: statistics.median(run.get(t, 0.0) for run in threads[name])
                for t in sorted({t for run in threads[name] for t in run})
            },
        }
        for name, rs in runs.items()
    }
    for name, s in summary.items():
        lo, hi = s["cpu_us_min_max"]
        print(
            f"median: {name:50} {s['requests_per_s']:>10,.0f} req/s  "
            f"{s['cpu_us_per_request']:5.2f} µs CPU/req (runs {lo:.2f}-{hi:.2f})"
        )
        shares = ", ".join(f"{t} {us:.2f}" for t, us in s["cpu_us_per_thread"].items())
        print(f"        per thread, µs/req: {shares}")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = ROOT / "benches" / "results" / f"cpu-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": "python -m benches.cpu_per_request " + " ".join(sys.argv[1:]),
                "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
                "runs": runs,
                "threads": threads,
                "summary": summary,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
