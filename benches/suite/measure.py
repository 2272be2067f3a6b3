"""Measuring one cell (a server serving a scenario): start the server pinned to CPU 0, check
its answer, warm it up with wrk pinned to CPU 1, then run wrk `runs` times, reading the
server's CPU time and peak memory from /proc. WebSocket scenarios run `covetpy bench ws://…`
in wrk's place (benches/suite/ws.py); `split-head` runs benches/suite/split.py in its place,
and `slow-mix` runs the slow clients of benches/suite/slow.py beside wrk.

- Latency percentiles and counts come from a wrk Lua `done()` hook that prints them as JSON
  (wrk's own report has no p99.9).
- CPU per request is user+system time of the server's whole process tree (supervisor and
  workers, all threads) over a run, divided by the responses wrk received in it: on two
  cores the load generator caps requests/s, but cannot inflate the server's CPU per request.
- Peak RSS is the sum of VmHWM over that tree after the last run; each cell starts a fresh
  server, so it is the peak for that scenario alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benches.suite import ports, slow, split, ws
from benches.suite.scenarios import Scenario
from benches.suite.servers import ROOT, Server

__all__ = ["Cell", "Options", "Run", "measure_cell", "serve"]

TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU, WRK_CPU = "0", "1"

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nSUITE-JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,' ..
    '"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    runs: int
    pin: bool
    """Server on CPU 0 and wrk on CPU 1 (taskset); off on a machine with one CPU."""


@dataclass
class Run:
    """One wrk run against a warm server."""

    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: dict[str, int]
    """Socket errors (connect, read, write, timeout) and non-2xx/3xx answers (status)."""
    server_cpu_s: float
    server_cpu_us_per_request: float
    extra: dict[str, Any] = field(default_factory=dict)
    """What a scenario's own load reports besides (slow-mix: the slow clients' fate)."""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class Cell:
    """A server in a scenario: measured ("ok"), or why not ("n/a", "unavailable", "failed")."""

    server: str
    scenario: str
    status: str
    reason: str | None = None
    command: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    peak_rss_mb: float | None = None
    server_log: str = ""
    """The end of what the server printed (start-up facts such as CovetPy's IO driver)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_covetpy(
    app: str,
    port: int,
    extra: tuple[str, ...] | list[str] = (),
    env: dict[str, str] | None = None,
    pin: bool = True,
) -> subprocess.Popen[bytes]:
    """`covetpy run APP` on 127.0.0.1:`port` with one worker and no standby, quiet, from the
    repository root, pinned to the server's CPU unless `pin` is False; `extra` are more
    `covetpy run` options. The benches outside the suite start CovetPy this way."""
    cmd = [sys.executable, "-m", "covetpy", "run", app, "--port", str(port),
           "--workers", "1", "--log-level", "warning", *extra]  # fmt: skip
    return subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *cmd] if pin else cmd,
        cwd=Path(__file__).resolve().parents[2],
        env=dict(env if env is not None else os.environ, COVETPY_STANDBY="0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_answers(url: str, tries: int = 100, every: float = 0.1) -> None:
    """Returns once a GET of `url` gets an answer (any status), or after `tries` attempts."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(every)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by `pids` (all their threads)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
    return total / TICKS


def thread_cpu_seconds(
    pids: list[int], supervisor: bool = True, main: str | None = None
) -> dict[str, float]:
    """User+system CPU seconds used so far per thread name (`comm`) over `pids`; the first
    pid (the supervisor, for CovetPy) counts as one entry, "supervisor", unless `supervisor`
    is False (a server whose first process serves, as uvicorn's with one worker). With
    `main`, each process's main thread counts under that name instead of its own (Granian
    names all its threads "granian"; the main one runs Python)."""
    out: dict[str, float] = {}
    for i, p in enumerate(pids):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                name = Path(f"/proc/{p}/task/{tid}/comm").read_text().strip()
                fields = Path(f"/proc/{p}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = "supervisor" if i == 0 and supervisor else name
            if main is not None and key == name and tid == str(p):
                key = main
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out


def peak_rss_mb(pids: list[int]) -> float:
    """The sum of each process's peak resident set size (VmHWM), in MiB."""
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


def _ask(port: int, scenario: Scenario) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(scenario.method, scenario.path, scenario.body or None, scenario.headers)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        answer = response.status, response.read(), headers
        if scenario.gzip:
            # A second answer on the same connection: an app whose first compressed answer
            # changes the next ones (GZipMiddleware edits the header list it is given in
            # place, a shared one included) or a body longer than its Content-Length shows
            # up only there.
            conn.request(scenario.method, scenario.path, scenario.body or None, scenario.headers)
            again = conn.getresponse()
            if (again.status, again.read()) != answer[:2]:
                return 0, b"the second answer on the same connection differs", headers
        return answer
    except OSError:
        raise  # not answering yet (RemoteDisconnected is both): `_check` retries
    except http.client.HTTPException as exc:
        return 0, f"answer unreadable (body longer than its length?): {exc!r}".encode(), {}
    finally:
        conn.close()


def _tail(log: Path, lines: int = 6) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"


def _check(proc: subprocess.Popen[bytes], port: int, scenario: Scenario, log: Path) -> None:
    """Waits until the server answers, then checks it answers the scenario correctly."""
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {_tail(log)}")
        try:
            status, body, headers = _ask(port, scenario)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not answering after 30 s: {_tail(log)}") from None
            time.sleep(0.1)
    wrong = scenario.check(status, body, headers)
    if wrong:
        raise RuntimeError(f"wrong answer to {scenario.method} {scenario.path}: {wrong}")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    command: list[str]
    log: Path
    output: str = ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"exited with {self.proc.returncode} during the runs: {_tail(self.log)}"
            )


@contextlib.contextmanager
def serve(server: Server, scenario: Scenario, pin: bool) -> Iterator[Served]:
    """Starts `server` for `scenario` (on CPU 0 if `pin`) and checks its answer; stops it on
    exit. Also how benches/latency_at_rate.py starts a peer."""
    port = free_port()
    cmd = server.command(port, scenario)
    launch = ["taskset", "-c", SERVER_CPU, *cmd] if pin else cmd
    env = {**os.environ, "PYTHONPATH": str(ROOT), **server.env(port, scenario)}
    with tempfile.NamedTemporaryFile(prefix=f"suite-{server.name}-", suffix=".log") as log:
        proc = subprocess.Popen(
            launch,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        served = Served(proc, port, cmd, Path(log.name))
        try:
            _check(proc, port, scenario, served.log)
            yield served
        finally:
            _stop(proc)
            served.output = served.log.read_text(errors="replace")[-2000:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _script(scenario: Scenario, directory: str) -> str:
    path = Path(directory) / f"{scenario.name}.lua"
    path.write_text(scenario.lua + _DONE_HOOK)
    return str(path)


def wrk(port: int, scenario: Scenario, seconds: float, pin: bool, script: str) -> dict[str, float]:
    """Runs wrk once (one thread unless the scenario asks for more, all on wrk's CPU) and
    returns what the `done()` hook printed."""
    cmd = [
        "wrk", f"-t{scenario.wrk_threads}", f"-c{scenario.connections}",
        f"-d{max(1, round(seconds))}s", "--timeout", f"{scenario.timeout_s:g}s", "-s", script,
        f"http://127.0.0.1:{port}{scenario.path}",
    ]  # fmt: skip
    if pin:
        cmd = ["taskset", "-c", WRK_CPU, *cmd]
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    for line in out.splitlines():
        if line.startswith("SUITE-JSON "):
            return dict(json.loads(line.removeprefix("SUITE-JSON ")))
    raise RuntimeError(f"wrk printed no result: {out[-500:]}")


def _wrk_figures(w: dict[str, float]) -> dict[str, Any]:
    """What a `Run` takes from the `done()` hook's figures (latencies in ms)."""
    requests = int(w["requests"])
    seconds = w["duration_us"] / 1e6
    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds if seconds else 0.0,
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "p999_ms": w["p999_us"] / 1000,
        "errors": {k: int(w[k]) for k in ("connect", "read", "write", "timeout", "status")},
    }


_WARM_CONNECTIONS = 1000


def _load(port: int, scenario: Scenario, seconds: float, pin: bool, script: str) -> dict[str, Any]:
    """One run of the scenario's load: a `Run`'s figures, and `extra` when it has more."""
    if scenario.ws is not None:
        # WebSocket cells: `covetpy bench ws://…`; a "request" is a message (ws-echo) or a
        # delivery (ws-broadcast).
        return ws.run_figures(ws.covetpy_bench(port, scenario, seconds, pin))
    if scenario.load == "split":
        figures = split.run(port, scenario.path, scenario.connections, seconds, pin)
        segments = figures.pop("segments_per_request")
        return {**figures, "extra": {"segments_per_request": segments}}
    if scenario.load == "slow-mix":
        # The slow clients outlive wrk's run by a second, so they are there all along.
        with slow.SlowClients(port, seconds + 1, pin) as clients:
            figures = _wrk_figures(wrk(port, scenario, seconds, pin, script))
        return {**figures, "extra": {"slow_clients": clients.outcomes}}
    return _wrk_figures(wrk(port, scenario, seconds, pin, script))


def measure_cell(server: Server, scenario: Scenario, opts: Options) -> Cell:
    """Starts `server` for `scenario`, warms it up, measures `opts.runs` runs, stops it."""
    cell = Cell(server.name, scenario.name, "ok")
    served: Served | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp, serve(server, scenario, opts.pin) as served:
            pid, port = served.proc.pid, served.port
            cell.command = served.command
            script = _script(scenario, tmp)
            if scenario.ws is not None:
                ws.warm_up(port, scenario, opts)
            elif scenario.load == "split" and opts.warmup > 0:
                split.run(port, scenario.path, scenario.connections, opts.warmup, opts.pin)
            elif opts.warmup > 0 and scenario.connections > _WARM_CONNECTIONS:
                # A warm-up on 1,000 connections: the ports of a full one would still be in
                # TIME_WAIT when the runs open theirs (benches/suite/ports.py).
                few = dataclasses.replace(scenario, connections=_WARM_CONNECTIONS, wrk_threads=1)
                wrk(port, few, opts.warmup, opts.pin, script)
            elif opts.warmup > 0:
                wrk(port, scenario, opts.warmup, opts.pin, script)
            for _ in range(opts.runs):
                if scenario.connections > _WARM_CONNECTIONS:
                    ports.wait_for_free(scenario.connections)
                pids = process_tree(pid)
                before = cpu_seconds(pids)
                seconds = max(opts.duration, scenario.min_seconds)
                figures = _load(port, scenario, seconds, opts.pin, script)
                cpu = cpu_seconds(pids) - before
                cell.runs.append(
                    Run(
                        **figures,
                        server_cpu_s=cpu,
                        server_cpu_us_per_request=cpu / max(figures["requests"], 1) * 1e6,
                    )
                )
            served.check_alive()
            cell.peak_rss_mb = peak_rss_mb(process_tree(pid))
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        cell.status, cell.reason = "failed", str(exc)[:500]
    if served is not None:
        cell.server_log = served.output
    return cell
