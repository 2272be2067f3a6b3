"""Worker replacement under load: `covetpy bench` against a 2-worker server, first while the
supervisor gets SIGHUP twice (zero-downtime reload), then while one worker gets SIGKILL.

    .venv/bin/python benches/reload.py [--listen slots|shared|worker] [--no-standby]
                                       [--standby auto|on|off] [--kills 1]
                                       [--close] [-c 32] [-d 6] [--io epoll]

Each phase is its own `covetpy bench` run, so the failed requests of a reload are not mixed
with those of a kill (a killed worker loses the requests it had accepted; nothing can save
those). `--listen` picks the listening layout (COVETPY_LISTEN, adrs/0006): `slots` (the
default: one SO_REUSEPORT socket per worker slot, bound by the supervisor), `shared` (one
socket for all workers), `worker` (each worker binds its own, the layout before issue 5).
`--no-standby` starts every replacement cold (COVETPY_STANDBY=0, `--standby off`); `--standby`
picks the policy (adrs/0020; `on` unless given), `--kills K` repeats the kill phase K times
(under `auto` the first kill is replaced cold, the next ones by the standby); `--close` sends
`Connection: close`, a new connection per request, which exercises the accept queues.
Prints requests, failed requests by kind, reconnects, how long each reload took, and how long
after SIGKILL a new worker answered a new connection (and the supervisor logged it ready), and
writes benches/results/reload-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.startup import free_port
from benches.suite.machine import describe

ROOT = Path(__file__).resolve().parent.parent
COVETPY = str(ROOT / ".venv" / "bin" / "covetpy")
APP = "tests.apps.supervised:app"


class Server:
    """A `covetpy run` whose log lines are kept with the time each arrived."""

    def __init__(self, port: int, args: argparse.Namespace) -> None:
        self.port = port
        env = dict(os.environ, PYTHONUNBUFFERED="1", COVETPY_IO=args.io)
        env["COVETPY_LISTEN"] = args.listen
        env["COVETPY_STANDBY"] = args.standby
        workers = args.workers
        self.proc = subprocess.Popen(
            [COVETPY, "run", APP, "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line))

    def wait_for(self, pattern: str, after: float = 0.0, timeout: float = 30.0) -> re.Match[str]:
        """The first log line after `after` (monotonic) that matches `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                m = re.search(pattern, line)
                if at >= after and m:
                    return m
            time.sleep(0.01)
        raise TimeoutError(f"{pattern!r} not logged:\n{''.join(s for _, s in self.lines)}")

    def arrival(self, pattern: str, after: float) -> float:
        """When the first line after `after` matching `pattern` arrived."""
        self.wait_for(pattern, after)
        return next(at for at, line in self.lines if at >= after and re.search(pattern, line))

    def serving_pid(self) -> int:
        """The pid of a worker that answers (not the standby, which serves nothing)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        return int(reply.rpartition(b"\r\n\r\n")[2])


def connections_per_worker(port: int) -> list[int]:
    """How the load's connections are spread over the workers now (`ss -tnp`), largest first."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sorted(Counter(re.findall(r"pid=(\d+)", out)).values(), reverse=True)


def bench(args: argparse.Namespace, url: str, out: Path) -> subprocess.Popen[bytes]:
    cmd = [COVETPY, "bench", url, "-c", str(args.connections), "-d", f"{args.duration}s"]
    if args.close:
        cmd += ["-H", "Connection: close"]
    return subprocess.Popen([*cmd, "--json", str(out), "-q"], stdout=subprocess.DEVNULL)


def finish(load: subprocess.Popen[bytes], args: argparse.Namespace) -> None:
    code = load.wait(args.duration + 30)
    if code != 0:
        raise RuntimeError(f"covetpy bench exited with {code}")


def summary(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("requests", "requests_per_s", "errors", "errors_total", "reconnects", "status_counts")
    return {k: report[k] for k in keys}


def reload_phase(server: Server, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Two SIGHUPs, a third and two thirds into the run."""
    out = tmp / "reload.json"
    load = bench(args, url, out)
    reloads = []
    began = time.monotonic()
    time.sleep(args.duration / 6)
    spread = connections_per_worker(server.port)
    for at in (args.duration / 3, args.duration * 2 / 3):
        time.sleep(max(0.0, began + at - time.monotonic()))
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGHUP)
        m = server.wait_for(r"reload complete in ([\d.]+) s", after=sent)
        reloads.append(float(m.group(1)))
    finish(load, args)
    return {
        "connections_per_worker_before": spread,
        "reload_seconds": reloads,
        **summary(json.loads(out.read_text())),
    }


def kill_phase(server: Server, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """SIGKILL to one worker a third into the run."""
    out = tmp / "kill.json"
    load = bench(args, url, out)
    time.sleep(args.duration / 3)
    known = {server.serving_pid() for _ in range(20)}
    victim = min(known)
    sent = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # New connections until one is answered by a worker that was not there before the kill.
    probe_errors = 0
    while True:
        try:
            if server.serving_pid() not in known:
                break
        except OSError:  # a reset: the connection was queued on the killed worker's socket
            probe_errors += 1
        time.sleep(0.005)
    answered = time.monotonic()
    m = server.wait_for(rf"replaced worker {victim} \(died[^)]*\), ready in (\d+) ms", after=sent)
    ready = server.arrival(rf"replaced worker {victim} ", after=sent)
    finish(load, args)
    return {
        "killed_worker": victim,
        "new_worker_answered_after_ms": round((answered - sent) * 1000, 1),
        "probe_errors": probe_errors,
        "replaced_after_ms": round((ready - sent) * 1000, 1),
        "supervisor_logged_ms": int(m.group(1)),
        **summary(json.loads(out.read_text())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", choices=("slots", "shared", "worker"), default="slots")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=6.0, help="seconds per phase")
    parser.add_argument("--io", default=os.environ.get("COVETPY_IO", "epoll"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-standby", action="store_true", help="COVETPY_STANDBY=0: replacements start cold"
    )
    parser.add_argument(
        "--standby", choices=("auto", "on", "off"), default=None, help="(default: on)"
    )
    parser.add_argument("--kills", type=int, default=1, help="kill phases, one after another")
    parser.add_argument(
        "--close", action="store_true", help="a new connection per request (Connection: close)"
    )
    args = parser.parse_args()
    args.standby = args.standby or ("off" if args.no_standby else "on")
    port = free_port()
    url = f"http://127.0.0.1:{port}/pid"
    server = Server(port, args)
    try:
        server.wait_for("covetpy serving")
        with tempfile.TemporaryDirectory() as tmp:
            reload = reload_phase(server, url, args, Path(tmp))
            kills = [kill_phase(server, url, args, Path(tmp)) for _ in range(args.kills)]
            kill = kills[0]
    finally:
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(60)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": describe(),
        "listen": args.listen,
        "standby": args.standby,
        "io": args.io,
        "workers": args.workers,
        "connections": args.connections,
        "connection_close": args.close,
        "phase_seconds": args.duration,
        "reload": reload,
        "kill": kill,
        "kills": kills,
        "exit_code": code,
    }
    close = " (Connection: close)" if args.close else ""
    standby = args.standby
    print(
        f"listen={args.listen} standby={standby} io={args.io} workers={args.workers} "
        f"-c {args.connections}{close}"
    )
    for name, phase in (("reload (2 x SIGHUP)", reload), ("kill (1 x SIGKILL)", kill)):
        print(
            f"{name:20} requests {phase['requests']:>9,}  failed {phase['errors_total']:>4} "
            f"{phase['errors']}  reconnects {phase['reconnects']}"
        )
    print(f"connections per worker before the reloads: {reload['connections_per_worker_before']}")
    print(f"reloads took {', '.join(f'{s:.2f} s' for s in reload['reload_seconds'])}")
    for i, k in enumerate(kills, 1):
        print(
            f"kill {i}: a new worker answered {k['new_worker_answered_after_ms']} ms after "
            f"SIGKILL; supervisor logged it ready {k['replaced_after_ms']} ms after SIGKILL "
            f"({k['supervisor_logged_ms']} ms after it saw the death)"
        )
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = ROOT / "benches" / "results" / f"reload-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
