"""Start-up and idle memory of a worker: how long after the app is imported the first request
is answered, and the RSS of an idle worker and of the supervisor.

    .venv/bin/python benches/startup.py [--app examples.hello:app] [--runs 5]

The worker logs the wall-clock time at which it finished importing the app; this script polls
the port as fast as it can and records when the first 200 arrives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_response(port: int, deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.time()
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError("no answer")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(app: str) -> dict[str, float]:
    port = free_port()
    covetpy = str(ROOT / ".venv" / "bin" / "covetpy")
    proc = subprocess.Popen(
        [covetpy, "run", app, "--port", str(port)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        answered = first_response(port, time.monotonic() + 30)
        assert proc.stderr is not None
        imported = None
        worker = None
        for line in proc.stderr:
            m = re.search(r"worker (\d+) serving .* imported at ([\d.]+)\)", line)
            if m:
                worker, imported = int(m.group(1)), float(m.group(2))
                break
        assert imported is not None and worker is not None
        time.sleep(1.0)  # idle
        return {
            "first_response_ms_after_import": (answered - imported) * 1000,
            "idle_worker_rss_mb": rss_mb(worker),
            "supervisor_rss_mb": rss_mb(proc.pid),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="examples.hello:app")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one(args.app) for _ in range(args.runs)]
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    for k, v in summary.items():
        print(f"{k:34} {v:8.1f}")
    out = ROOT / "benches" / "results" / f"startup-{time.strftime('%Y%m%dT%H%M%S')}.json"
    cmd = " ".join([Path(sys.executable).name, *sys.argv])
    out.write_text(json.dumps({"command": cmd, "median": summary, "runs": runs}, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
