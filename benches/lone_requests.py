"""One client, one request at a time: the round trip a lone request sees, with and without
`--busy-poll-us` (adrs/0012).

    .venv/bin/python -m benches.lone_requests
    .venv/bin/python -m benches.lone_requests --unpinned --busy-poll-us 0 50

For each app (default: the Rust-only static route and the Python hello handler) and each
`--busy-poll-us` value, starts `covetpy run APP --workers 1` (on CPU 0, or anywhere with
`--unpinned`), then runs `covetpy bench URL -c 1` on CPU 1 `--runs` times, interleaved, and
prints requests/s, p50 and p99 of each run and the server's CPU µs per request. Writes
benches/results/lone-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benches.suite.measure import (
    cpu_seconds,
    free_port,
    process_tree,
    start_covetpy,
    wait_until_answers,
)

ROOT = Path(__file__).resolve().parent.parent
APPS = ["benches.apps.static_covetpy:app", "examples.hello:app"]


def one_run(app: str, busy_poll: int, seconds: int, pin: bool) -> dict[str, Any]:
    port = free_port()
    server = start_covetpy(app, port, ("--busy-poll-us", str(busy_poll)), pin=pin)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answers(url)
        pids = process_tree(server.pid)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            before = cpu_seconds(pids)
            subprocess.run(
                ["taskset", "-c", "1", str(Path(sys.executable).parent / "covetpy"), "bench",
                 url, "-c", "1", "-d", f"{seconds}s", "--json", out.name],
                check=True, capture_output=True,
            )  # fmt: skip
            cpu = cpu_seconds(pids) - before
            report = json.loads(Path(out.name).read_text())
    finally:
        server.terminate()
        server.wait(30)
    lat = report["latency_us"]["percentiles"]
    return {
        "app": app,
        "busy_poll_us": busy_poll,
        "requests_per_s": report["requests_per_s"],
        "p50_us": lat["50"],
        "p99_us": lat["99"],
        "server_cpu_us_per_request": cpu / max(report["requests"], 1) * 1e6,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("apps", nargs="*", default=APPS, help="module:app answering GET /")
    p.add_argument("--busy-poll-us", type=int, nargs="+", default=[0, 50])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--unpinned", action="store_true", help="let the server run on any CPU")
    args = p.parse_args()
    rows = []
    for run in range(1, args.runs + 1):
        for app in args.apps:
            for bp in args.busy_poll_us:
                row = one_run(app, bp, args.seconds, not args.unpinned)
                row["run"] = run
                rows.append(row)
                print(
                    f"{app} busy-poll {bp:>4} µs run {run}: {row['requests_per_s']:>8,.0f} "
                    f"req/s  p50 {row['p50_us']:>4} µs  p99 {row['p99_us']:>5} µs  server "
                    f"{row['server_cpu_us_per_request']:.1f} µs CPU/req",
                    flush=True,
                )
    out = ROOT / "benches" / "results" / f"lone-{time.strftime('%Y%m%dT%H%M%S')}.json"
    doc = {
        "command": " ".join(["python", "-m", "benches.lone_requests", *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "rows": rows,
    }
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
