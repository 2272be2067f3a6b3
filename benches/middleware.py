"""What each Python middleware costs per request: server CPU time per request of `/plaintext`
under 0, 1, 5 and 10 pass-through middlewares (async, and sync around the sync handler): the
cost of having a chain at all (1 minus 0: the copied context, the Response object and its
conversion) and the cost of each middleware (the slope of a least-squares line through 1, 5
and 10).

    .venv/bin/python -m benches.middleware [--seconds 5] [--runs 3]

One worker pinned to CPU 0, `covetpy bench` (64 connections) pinned to CPU 1. Writes
benches/results/middleware-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benches.suite.measure import (
    cpu_seconds,
    free_port,
    process_tree,
    start_covetpy,
    wait_until_answers,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def measure(count: int, kind: str, seconds: float) -> tuple[float, float]:
    """(requests/s, server CPU µs per request) for one run."""
    port = free_port()
    env = dict(os.environ, BENCH_MIDDLEWARE=str(count), BENCH_MIDDLEWARE_KIND=kind)
    server = start_covetpy("benches.apps.middleware_covetpy:app", port, env=env)
    url = f"http://127.0.0.1:{port}/plaintext"
    try:
        wait_until_answers(url)
        bench = [
            "taskset", "-c", "1", str(BIN / "covetpy"), "bench", url, "-c", "64", "-q",
        ]  # fmt: skip
        subprocess.run([*bench, "-d", "1s"], check=True, capture_output=True)
        pids = process_tree(server.pid)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "r.json"
            before = cpu_seconds(pids)
            subprocess.run([*bench, "-d", f"{seconds}s", "--json", str(out)], check=True)
            cpu = cpu_seconds(pids) - before
            report = json.loads(out.read_text())
        n = max(1, report["requests"])
        return report["requests_per_s"], cpu / n * 1e6
    finally:
        server.terminate()
        server.wait(30)


def slope(xs: list[int], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    counts = [0, 1, 5, 10]
    results: dict[str, dict[int, dict[str, float]]] = {}
    for kind in ("async", "sync"):
        results[kind] = {}
        for count in counts:
            runs = [measure(count, kind, args.seconds) for _ in range(args.runs)]
            rps = statistics.median(r for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            results[kind][count] = {"requests_per_s": rps, "cpu_us_per_request": cpu}
            print(f"{kind:5} x{count:<2}  {rps:>10,.0f} req/s  {cpu:6.2f} µs CPU/req", flush=True)
        by_count = {c: results[kind][c]["cpu_us_per_request"] for c in counts}
        per = slope(counts[1:], [by_count[c] for c in counts[1:]])
        fixed = by_count[1] - by_count[0] - per
        results[kind]["costs"] = {"chain_us": fixed, "each_middleware_us": per}  # type: ignore[index]
        print(
            f"{kind:5} a chain: {fixed:.2f} µs, each middleware: {per:.2f} µs "
            "of server CPU per request",
            flush=True,
        )
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = ROOT / "benches" / "results" / f"middleware-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(["python -m benches.middleware", *sys.argv[1:]]),
                "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
