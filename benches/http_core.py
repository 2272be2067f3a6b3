"""Side-by-side HTTP/1.1 benchmark of CovetPy's core against granian (RSGI) and uvicorn
(httptools + uvloop), each serving the same hello app (`/` text, `/users/42` JSON).

    .venv/bin/python benches/http_core.py [--scenario hello|post] [--duration 10]

Each server runs with one worker pinned to CPU 0; wrk runs pinned to CPU 1 (64 connections,
one thread). After a warm-up, every (server, path) pair is measured `--runs` times and the
median is reported with the server's CPU time per request (user+system of its processes,
which a load generator sharing the machine cannot inflate). Peers come from benches/.venv,
which `make bench` creates. Results go to benches/results/http_core-<time>.json.

`covetpy` runs the epoll IO driver; `--servers covetpy,covetpy-uring` compares it with the
io_uring one (adrs/0005), and `covetpy-inline` is the bridge experiment of adrs/0002.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benches` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.suite.measure import cpu_seconds, free_port
from benches.suite.measure import process_tree as tree

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benches" / ".venv" / "bin"
TICKS = os.sysconf("SC_CLK_TCK")


def commands(port: int, workers: int, scenario: str) -> dict[str, list[str]]:
    covetpy = str(ROOT / ".venv" / "bin" / "covetpy")
    w = str(workers)
    if scenario == "post":
        uvicorn = [str(PEERS / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
                   "--workers", w, "--http", "httptools", "--loop", "uvloop",
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
        return {
            "covetpy": [covetpy, "run", "benches.apps.post_covetpy:app", "--port", str(port),
                        "--workers", w, "--log-level", "warning"],
            "fastapi-uvicorn": [*uvicorn, "benches.peers.post_fastapi:app"],
            "litestar-uvicorn": [*uvicorn, "benches.peers.post_litestar:app"],
        }  # fmt: skip
    hello = [covetpy, "run", "examples.hello:app", "--port", str(port), "--workers", w,
             "--log-level", "warning"]  # fmt: skip
    return {
        # The epoll driver, pinned so that the figure does not follow the kernel (`--io auto`).
        "covetpy": [*hello, "--io", "epoll"],
        # The io_uring driver (adrs/0005); fails to start where the kernel refuses io_uring.
        "covetpy-uring": [*hello, "--io", "uring"],
        "covetpy-inline": [*hello, "--io", "epoll", "--bridge", "inline"],
        "granian-rsgi": [
            str(PEERS / "granian"),
            "--interface",
            "rsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            w,
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "benches.peers.rsgi_app:app",
        ],
        "uvicorn-httptools": [
            str(PEERS / "uvicorn"),
            "benches.peers.asgi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            w,
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    }


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout}s")


@dataclass
class Run:
    server: str
    path: str
    workers: int
    requests_per_s: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency_avg_ms: float
    server_cpu_us_per_request: float
    server_rss_mb: float


def parse_wrk(out: str) -> tuple[float, int, int, int, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(lat.group(1)) * scale[lat.group(2)] if lat else float("nan")
    return (
        rps,
        total,
        int(non2xx.group(1)) if non2xx else 0,
        sum(int(x) for x in errs.groups()) if errs else 0,
        latency,
    )


SCENARIOS = {
    "hello": {"paths": ["/", "/users/42"], "script": None, "ready": "/"},
    "post": {"paths": ["/items"], "script": "benches/post.lua", "ready": None},
}


def wrk(url: str, duration: float, connections: int, pin: bool, script: str | None = None) -> str:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url]
    if script is not None:
        cmd[1:1] = ["-s", str(ROOT / script)]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=duration + 30
    ).stdout


def bench_server(name: str, args: argparse.Namespace, paths: list[str]) -> list[Run]:
    port = free_port()
    scenario = SCENARIOS[args.scenario]
    script = scenario["script"]
    cmd = commands(port, args.workers, args.scenario)[name]
    pin = args.workers == 1
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    runs: list[Run] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + (scenario["ready"] or "/"), proc)
        for path in paths:
            wrk(base + path, args.warmup, args.connections, pin, script)
            for _ in range(args.runs):
                pids = tree(proc.pid)
                before = cpu_seconds(pids)
                out = wrk(base + path, args.duration, args.connections, pin, script)
                cpu = cpu_seconds(pids) - before
                rps, total, non2xx, errors, latency = parse_wrk(out)
                runs.append(
                    Run(
                        name,
                        path,
                        args.workers,
                        rps,
                        total,
                        non2xx,
                        errors,
                        latency,
                        cpu / max(total, 1) * 1e6,
                        rss_mb(pids),
                    )
                )
                r = runs[-1]
                cpu_us = r.server_cpu_us_per_request
                print(
                    f"  {name:18} {path:10} {rps:>10,.0f} req/s  {cpu_us:5.1f} "
                    f"us CPU/req  non-2xx {non2xx}  errors {errors}",
                    flush=True,
                )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="hello")
    parser.add_argument(
        "--servers", default=None, help="comma list (default: all for the scenario)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    paths = SCENARIOS[args.scenario]["paths"]
    servers = (args.servers or ",".join(commands(0, 1, args.scenario))).split(",")
    if args.servers is None:
        servers = [s for s in servers if s not in ("covetpy-inline", "covetpy-uring")]
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    pinned = args.workers == 1
    runs: list[Run] = []
    for name in servers:
        runs.extend(bench_server(name, args, paths))
    print(
        f"\nmedians of {args.runs} runs x {args.duration:.0f}s, {args.connections} connections, "
        f"{args.workers} worker(s)" + (", server on CPU 0, wrk on CPU 1" if pinned else "")
    )
    cols = ("req/s", "us CPU/req", "non-2xx", "errors")
    print(f"{'server':18} {'path':10} {cols[0]:>10} {cols[1]:>11} {cols[2]:>8} {cols[3]:>7}")
    summary = []
    for name in servers:
        for path in paths:
            rs = [r for r in runs if r.server == name and r.path == path]
            med = statistics.median(r.requests_per_s for r in rs)
            cpu = statistics.median(r.server_cpu_us_per_request for r in rs)
            bad = sum(r.non_2xx for r in rs)
            err = sum(r.socket_errors for r in rs)
            summary.append(
                {
                    "server": name,
                    "path": path,
                    "requests_per_s": med,
                    "cpu_us_per_request": cpu,
                    "non_2xx": bad,
                    "errors": err,
                }
            )
            print(f"{name:18} {path:10} {med:>10,.0f} {cpu:>11.1f} {bad:>8} {err:>7}")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = ROOT / "benches" / "results" / f"http_{args.scenario}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "cpu": _cpu_model(),
                    "python": platform.python_version(),
                },
                "summary": summary,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
