"""Task queues (issue 19): tasks enqueued and completed per second, and enqueue-to-start
latency, of CovetPy's durable tasks against Celery (Redis broker), arq, dramatiq and SAQ on
the same local Redis, and of CovetPy on NATS JetStream.

    .venv/bin/python -m benches.tasks                     # everything, about 15 minutes
    .venv/bin/python -m benches.tasks --quick             # 5,000 tasks, 1 run per variant
    .venv/bin/python -m benches.tasks --systems celery,arq --variants celery:solo

Method, the same for every system (benches/tasks_apps/, one module per system):

- The task takes `sent_at: float` (time.time() at the enqueue call) and `payload: str` of
  1 KiB; its body (benches/tasks_apps/recorder.py, shared) records time.time() - sent_at
  (enqueue-to-start) and counts; the worker writes the figures to a file once the last task
  of the run completed.
- Per run: a fresh `redis-server` (`--save "" --appendonly no`) or `nats-server -js` (file
  storage), pinned to CPU 1 with the producer (and this script); ONE worker process pinned
  to CPU 0, in the configuration of its best single-process throughput with the no-op task
  (the variants below; every variant is measured and the best kept).
- The producer enqueues 100 warm-up tasks and waits; once the worker has run them (it says
  so), the worker's CPU time is read and the producer is let go.
- Throughput: `--count` tasks as fast as the system's client allows: async clients (arq,
  SAQ, CovetPy) 64 coroutines each awaiting one enqueue after the other; sync clients
  (Celery `delay`, dramatiq `send`) a loop in one thread (threads would not help: the
  producer's CPU is the one redis-server uses, and dramatiq's loop already fills it at
  ~7,500/s; producer.py has `--threads` to try). Enqueued/s = count / (last enqueue
  returned - first enqueue); completed/s = count / (last completion - first enqueue). The
  median run of `--runs`.
- Latency: the producer paced (the i-th task due at start + i/rate) for `--latency-seconds`,
  at half of the system's own completed/s and at one common rate, half of the best peer's
  completed/s (so that every system is compared at the same load); p50/p99/max
  enqueue-to-start.
- CPU: the worker's (process tree) user+system seconds per 1,000 tasks from /proc, and the
  broker's and the producer's: on a 2-core machine the fairest figure. Its inverse, tasks
  per worker CPU-second, is the rate one undisturbed core would bear; it holds up when
  other programs share the machine, which completed/s does not. Before each run this waits
  (up to 10 s) for a quiet second, and a run during which other programs took more than
  `--max-other-load` of CPU 0 is done once more (the less disturbed one kept).

Worker variants (named `system:variant` in `--variants`):

- celery: `-P solo` and `-P threads -c 8`; gossip, mingle and heartbeats off, results
  ignored, prefetch multiplier 256 (acks early, Celery's default);
- arq: `max_jobs=64`, results not kept, uvloop, polling its queue every 10 ms or every 1 ms
  (arq's default 0.5 s bounds both figures);
- dramatiq: `--processes 1 --threads 8|16`, and 8 with a prefetch of 256
  (`dramatiq_queue_prefetch`; by default twice the threads, which leaves the worker idle
  between fetches: ~2,100/s at 33 % CPU against ~7,400/s at 96 %); default middleware, no
  result backend;
- saq: `concurrency=64`, uvloop, jobs deleted when done (`ttl=-1`);
- covetpy (Redis) and covetpy-nats (JetStream): `--concurrency 64`.

Targets (issue 19): CovetPy >= 2x the best peer's completed/s; p99 enqueue-to-start under
5 ms at half that rate. Writes benches/results/tasks-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benches.suite import machine, venv
from benches.suite.measure import TICKS, cpu_seconds, process_tree
from benches.suite.servers import PEERS_BIN, PROJECT_BIN, ROOT
from covetpy.events.testing import LocalServer, nats_server, redis_server

RESULTS = ROOT / "benches" / "results"
WORKER_CPU = "0"
PRODUCER_CPU = "1"
WARMUP = 100
PEERS = ("celery", "arq", "dramatiq", "saq")
SYSTEMS = (*PEERS, "covetpy", "covetpy-nats")
TARGET_RATIO = 2.0
TARGET_P99_MS = 5.0


@dataclass(frozen=True)
class Variant:
    """One way to run a system's worker."""

    system: str
    name: str
    label: str
    bin: Path
    """The venv's bin directory (benches/.venv for the peers, .venv for CovetPy)."""
    worker: tuple[str, ...]
    """The worker's argv; a first element without a slash is a program of `bin`."""
    module: str
    env: dict[str, str] = field(default_factory=dict)
    broker: str = "redis"

    @property
    def key(self) -> str:
        return f"{self.system}:{self.name}"


def _covetpy_worker() -> tuple[str, ...]:
    """`python -m covetpy worker …` where this build has it, else the in-process form."""
    probe = subprocess.run(
        [str(PROJECT_BIN / "python"), "-m", "covetpy", "worker", "--help"],
        capture_output=True,
        cwd=ROOT,
    )
    if probe.returncode == 0:
        return (
            "python",
            "-m",
            "covetpy",
            "worker",
            "benches.tasks_apps.covetpy_app:app",
            "--queues",
            "bench",
            "--concurrency",
            "64",
        )
    return ("python", "-m", "benches.tasks_apps.covetpy_app", "work")


def variants() -> list[Variant]:
    """Every system's worker configurations, peers first."""
    celery = (
        "celery",
        "-A",
        "benches.tasks_apps.celery_app",
        "worker",
        "-Q",
        "bench",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "warning",
    )
    arq = ("arq", "benches.tasks_apps.arq_app.WorkerSettings")
    dramatiq = (
        "dramatiq",
        "benches.tasks_apps.dramatiq_app",
        "--processes",
        "1",
        "--queues",
        "bench",
        "--threads",
    )
    covetpy = _covetpy_worker()
    p, c = PEERS_BIN, PROJECT_BIN
    return [
        Variant("celery", "solo", "Celery -P solo", p, (*celery, "-P", "solo"), "celery_app"),
        Variant(
            "celery",
            "threads8",
            "Celery -P threads -c 8",
            p,
            (*celery, "-P", "threads", "-c", "8"),
            "celery_app",
        ),
        Variant(
            "arq",
            "poll10ms",
            "arq max_jobs=64, poll 10 ms",
            p,
            arq,
            "arq_app",
            {"BENCH_TASKS_POLL_DELAY": "0.01"},
        ),
        Variant(
            "arq",
            "poll1ms",
            "arq max_jobs=64, poll 1 ms",
            p,
            arq,
            "arq_app",
            {"BENCH_TASKS_POLL_DELAY": "0.001"},
        ),
        *(
            Variant(
                "dramatiq",
                f"threads{n}",
                f"dramatiq --threads {n}",
                p,
                (*dramatiq, str(n)),
                "dramatiq_app",
            )
            for n in (8, 16)
        ),
        Variant(
            "dramatiq",
            "threads8-prefetch256",
            "dramatiq --threads 8, prefetch 256",
            p,
            (*dramatiq, "8"),
            "dramatiq_app",
            {"dramatiq_queue_prefetch": "256"},
        ),
        Variant(
            "saq",
            "c64",
            "SAQ concurrency=64",
            p,
            ("saq", "benches.tasks_apps.saq_app.settings", "--quiet"),
            "saq_app",
        ),
        Variant("covetpy", "c64", "CovetPy (Redis) --concurrency 64", c, covetpy, "covetpy_app"),
        Variant(
            "covetpy-nats",
            "c64",
            "CovetPy (JetStream) --concurrency 64",
            c,
            covetpy,
            "covetpy_app",
            broker="nats",
        ),
    ]


class Timeout(RuntimeError):
    """A run did not finish within its deadline."""


def _pin_all(pid: int, cpu: str) -> None:
    """Pins every thread of `pid` (a server started before it could be told)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), {int(cpu)})


@contextlib.contextmanager
def broker(kind: str) -> Iterator[tuple[str, LocalServer]]:
    """A fresh server on a free port, pinned to the producer's CPU: (URL, server)."""
    made = redis_server(appendonly=False) if kind == "redis" else nats_server()
    with made as server:
        assert server.proc is not None
        _pin_all(server.proc.pid, PRODUCER_CPU)
        yield (f"{server.url}/0" if kind == "redis" else server.url), server


def _start(argv: list[str], env: dict[str, str], log: Path, pipe: bool) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else out,
            stderr=out,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process group of a process started here, SIGKILL past `grace`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError):  # children left behind (dramatiq's)
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_file(
    path: Path, deadline: float, procs: list[subprocess.Popen[bytes]], log: Path
) -> None:
    """Waits for `path`; fails when the worker (`procs[0]`) exits or another process fails."""
    while not path.exists():
        for i, p in enumerate(procs):
            if p.poll() is not None and (i == 0 or p.returncode != 0):
                raise RuntimeError(f"exited {p.returncode} before {path.name}: {_tail(log)}")
        if time.monotonic() > deadline:
            raise Timeout(f"no {path.name} in time: {_tail(log)}")
        time.sleep(0.01)


def _tail(log: Path, lines: int = 8) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return " | ".join(text.strip().splitlines()[-lines:])[:1500]


def _busy() -> dict[str, float]:
    """Seconds each CPU has been busy (/proc/stat: all but idle and iowait), by "cpuN"."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            n = [int(x) for x in fields[:8]]
            out[name] = (sum(n) - n[3] - n[4]) / TICKS
    return out


def _pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def run_once(v: Variant, count: int, rate: float, timeout: float) -> dict[str, Any]:
    """One run: fresh broker, worker and producer; `rate` 0 is the throughput cell."""
    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp, broker(v.broker) as (url, srv):
        scratch = Path(tmp)
        out, go, log = scratch / "run.json", scratch / "go", scratch / "run.log"
        env = dict(
            os.environ,
            **v.env,
            BENCH_TASKS_URL=url,
            BENCH_TASKS_WARMUP=str(WARMUP),
            BENCH_TASKS_N=str(count),
            BENCH_TASKS_OUT=str(out),
            PYTHONPATH=str(ROOT),
        )
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{v.bin}:{env.get('PATH', '')}"
        program = v.worker[0] if "/" in v.worker[0] else str(v.bin / v.worker[0])
        worker_argv = ["taskset", "-c", WORKER_CPU, program, *v.worker[1:]]
        producer_argv = [
            "taskset",
            "-c",
            PRODUCER_CPU,
            str(v.bin / "python"),
            "-m",
            f"benches.tasks_apps.{v.module}",
            "produce",
            "--warmup",
            str(WARMUP),
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--go",
            str(go),
            "--deadline",
            "90",
        ]
        worker = _start(worker_argv, env, log, pipe=False)
        prod: subprocess.Popen[bytes] | None = None
        try:
            prod = _start(producer_argv, env, log, pipe=True)
            _wait_file(Path(f"{out}.ready"), time.monotonic() + 90, [worker, prod], log)
            assert srv.proc is not None
            tree = process_tree(worker.pid)
            cpu0, broker0 = cpu_seconds(tree), cpu_seconds([srv.proc.pid])
            busy0, began = _busy(), time.monotonic()
            go.touch()
            _wait_file(out, time.monotonic() + timeout, [worker, prod], log)
            worker_cpu = cpu_seconds(process_tree(worker.pid)) - cpu0
            broker_cpu = cpu_seconds([srv.proc.pid]) - broker0
            busy = {n: t - busy0.get(n, 0.0) for n, t in _busy().items()}
            window = time.monotonic() - began
            stdout, _ = prod.communicate(timeout=max(10.0, timeout))
            if prod.returncode != 0:
                raise RuntimeError(f"producer exited {prod.returncode}: {_tail(log)}")
        finally:
            if prod is not None:
                _stop(prod)
            _stop(worker)
        sent = json.loads(stdout.decode().strip().splitlines()[-1])
        done = json.loads(out.read_text())
    ms = sorted(x * 1000 for x in done["latencies_s"])
    first = sent["first_enqueue"]
    seconds = max(1e-9, done["last_completion"] - first)
    return {
        "count": count,
        "rate": rate,
        "enqueued": sent["enqueued"],
        "enqueue_errors": sent["errors"],
        "first_error": sent["first_error"],
        "enqueued_per_s": sent["enqueued"] / max(1e-9, sent["last_enqueued"] - first),
        "completed_per_s": done["count"] / seconds,
        "seconds": seconds,
        "latency_ms": {
            "p50": _pct(ms, 0.50),
            "p99": _pct(ms, 0.99),
            "max": ms[-1],
            "mean": statistics.fmean(ms),
        },
        "worker_cpu_s_per_1k": worker_cpu / count * 1000,
        "broker_cpu_s_per_1k": broker_cpu / count * 1000,
        "producer_cpu_s_per_1k": sent["cpu_s"] / count * 1000,
        # Shares of a CPU from the go to the results file (what the CPU times span).
        "worker_cpu_share": worker_cpu / window,
        # What else ran on the worker's CPU meanwhile (other programs: the VM is shared).
        "cpu0_other_share": max(0.0, busy.get(f"cpu{WORKER_CPU}", 0.0) - worker_cpu) / window,
        "cpu1_busy_share": busy.get(f"cpu{PRODUCER_CPU}", 0.0) / window,
    }


def wait_quiet(limit: float, share: float = 0.15) -> float:
    """Waits (at most `limit` seconds) for a second in which neither CPU was more than
    `share` busy: between runs nothing of ours runs, so that is other programs' load (the VM
    is shared). Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = _busy()
        time.sleep(1.0)
        if all(t - before.get(n, 0.0) <= share for n, t in _busy().items()):
            break
    return time.monotonic() - began


def attempt(v: Variant, count: int, rate: float, timeout: float) -> dict[str, Any]:
    """`run_once`, a failure or timeout recorded as the run's status."""
    wait_quiet(10.0)
    try:
        return {"status": "ok", **run_once(v, count, rate, timeout)}
    except Timeout as exc:
        return {"status": "timeout", "reason": str(exc)}
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:1500]}


def measured(v: Variant, count: int, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """`attempt`, done once more when other programs took more than `--max-other-load` of the
    worker's CPU meanwhile; the less disturbed run is kept, the other recorded in it."""
    first = attempt(v, count, rate, args.timeout)
    if first.get("cpu0_other_share", 0.0) <= args.max_other_load:
        return first
    print(_line(f"{v.key:22} disturbed, again", first), flush=True)
    second = attempt(v, count, rate, args.timeout)
    runs = [r for r in (first, second) if r["status"] == "ok"] or [second]
    kept = min(runs, key=lambda r: r.get("cpu0_other_share", 0.0))
    return {**kept, "discarded": second if kept is first else first}


def _line(what: str, r: dict[str, Any]) -> str:
    if r["status"] != "ok":
        return f"{what}: {r['status']}: {r['reason'][:600]}"
    lat = r["latency_ms"]
    return (
        f"{what}: enqueued {r['enqueued_per_s']:>8,.0f}/s  "
        f"completed {r['completed_per_s']:>8,.0f}/s"
        f"  p50 {lat['p50']:7.2f} p99 {lat['p99']:8.2f} max {lat['max']:8.2f} ms  worker CPU "
        f"{r['worker_cpu_s_per_1k']:.3f} s/1k ({100 * r['worker_cpu_share']:.0f} %)  broker "
        f"{r['broker_cpu_s_per_1k']:.3f}  producer {r['producer_cpu_s_per_1k']:.3f} s/1k  "
        f"CPU1 {100 * r['cpu1_busy_share']:.0f} %  "
        f"other on CPU0 {100 * r['cpu0_other_share']:.0f} %"
        + (f"  ERRORS {r['enqueue_errors']}: {r['first_error']}" if r["enqueue_errors"] else "")
    )


def throughput(v: Variant, args: argparse.Namespace) -> dict[str, Any]:
    """The throughput cell of a variant: `--runs` runs, the median by completed/s."""
    runs = []
    for i in range(args.runs):
        r = measured(v, args.count, 0.0, args)
        print(_line(f"{v.key:22} run {i + 1}", r), flush=True)
        runs.append(r)
    ok = sorted((r for r in runs if r["status"] == "ok"), key=lambda r: r["completed_per_s"])
    median = ok[len(ok) // 2] if ok else None
    return {
        "variant": v.key,
        "label": v.label,
        "worker": " ".join(v.worker),
        "env": v.env,
        "runs": runs,
        "median": median,
    }


def latency(v: Variant, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """The latency cell: paced at `rate` for `--latency-seconds`."""
    count = max(50, int(rate * args.latency_seconds))
    r = measured(v, count, rate, args)
    print(_line(f"{v.key:22} at {rate:,.0f}/s", r), flush=True)
    return r


def _median(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if cell is None else cell["median"]


def _per_cpu_s(m: dict[str, Any]) -> str:
    """Tasks per second of worker CPU: the rate one core would bear, whatever else ran."""
    return f"{1000 / m['worker_cpu_s_per_1k']:,.0f}" if m["worker_cpu_s_per_1k"] > 0 else "-"


def _lat(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    if r["status"] != "ok":
        return str(r["status"])
    d = r["latency_ms"]
    return f"{d['p50']:.2f} / {d['p99']:.2f} / {d['max']:.1f} ({r['rate']:,.0f}/s)"


def report(systems: dict[str, dict[str, Any]]) -> str:
    """The markdown tables: the kept variant of each system, then every variant measured."""
    out = [
        "| system (kept variant) | enqueued/s | completed/s | tasks per worker CPU-s | worker "
        "CPU s/1k | broker CPU s/1k | producer CPU s/1k | p50/p99/max ms at ½ own | "
        "p50/p99/max ms at common |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in systems.values():
        m = _median(s.get("best"))
        if m is None:
            out.append(f"| {s['system']} | - | - | - | - | - | - | - | - |")
            continue
        out.append(
            f"| {s['best']['label']} | {m['enqueued_per_s']:,.0f} | {m['completed_per_s']:,.0f} | "
            f"{_per_cpu_s(m)} | {m['worker_cpu_s_per_1k']:.3f} | "
            f"{m['broker_cpu_s_per_1k']:.3f} | {m['producer_cpu_s_per_1k']:.3f} | "
            f"{_lat(s.get('latency_own'))} | {_lat(s.get('latency_common'))} |"
        )
    out += [
        "",
        "| variant | completed/s, median (runs) | tasks per worker CPU-s | worker CPU share | "
        "other programs on CPU 0 |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in systems.values():
        for key, cell in s["variants"].items():
            m = cell["median"]
            if m is None:
                why = "; ".join(sorted({r["status"] for r in cell["runs"]}))
                out.append(f"| {key} | {why} | - | - | - |")
                continue
            runs = ", ".join(
                f"{r['completed_per_s']:,.0f}" if r["status"] == "ok" else r["status"]
                for r in cell["runs"]
            )
            out.append(
                f"| {key} | {m['completed_per_s']:,.0f} ({runs}) | {_per_cpu_s(m)} | "
                f"{100 * m['worker_cpu_share']:.0f} % | {100 * m['cpu0_other_share']:.0f} % |"
            )
    return "\n".join(out)


def best_peer_rate(systems: dict[str, dict[str, Any]], given: float) -> float:
    """The best peer's completed/s: measured in this run, else `--peer-rate` (0: unknown)."""
    rates = [m["completed_per_s"] for n in PEERS if (m := _median(systems.get(n, {}).get("best")))]
    return max(rates) if rates else given


def targets(systems: dict[str, dict[str, Any]], best_peer: float) -> list[dict[str, Any]]:
    """CovetPy's completed/s against the best peer's, and its p99 at half its own rate."""
    out: list[dict[str, Any]] = []
    for name in ("covetpy", "covetpy-nats"):
        ours = _median(systems.get(name, {}).get("best"))
        if ours and best_peer:
            ratio = ours["completed_per_s"] / best_peer
            out.append(
                {
                    "target": f"{name} completed/s >= {TARGET_RATIO:g}x the best peer's",
                    "measured": f"x{ratio:.2f}",
                    "met": ratio >= TARGET_RATIO,
                }
            )
        own = systems.get(name, {}).get("latency_own")
        if own and own["status"] == "ok":
            p99 = own["latency_ms"]["p99"]
            out.append(
                {
                    "target": f"{name} p99 enqueue-to-start < {TARGET_P99_MS:g} ms at half "
                    "its completed/s",
                    "measured": f"{p99:.2f} ms at {own['rate']:,.0f}/s",
                    "met": p99 < TARGET_P99_MS,
                }
            )
    return out


def _version(program: str) -> str | None:
    """`redis-server --version` says `v=7.0.15`, `nats-server --version` `v2.10.16`."""
    try:
        said = subprocess.run([program, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    found = re.search(r"v=?(\d[\w.]*)", said)
    return found.group(1) if found else None


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benches.tasks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma list (default: all)")
    p.add_argument("--variants", default="", help="comma list of system:variant (default: all)")
    p.add_argument("--count", type=int, default=20_000, help="tasks per throughput run")
    p.add_argument("--runs", type=int, default=3, help="throughput runs per variant")
    p.add_argument("--latency-seconds", type=float, default=5.0, help="paced seconds")
    p.add_argument(
        "--common-rate",
        type=float,
        default=0.0,
        help="tasks/s of the common latency cell (default: half the best peer's)",
    )
    p.add_argument(
        "--peer-rate",
        type=float,
        default=0.0,
        help="the best peer's completed/s from an earlier run, for the targets and the common "
        "rate when this run measures no peer",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="do a run once more when other programs took more than this share of "
        "the worker's CPU meanwhile (the VM is shared) (default: 0.25)",
    )
    p.add_argument("--quick", action="store_true", help="5,000 tasks, 1 run")
    args = p.parse_args(argv)
    if args.quick:
        args.count, args.runs = 5_000, 1
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.variants = {s.strip() for s in args.variants.split(",") if s.strip()}
    if unknown := [s for s in args.systems if s not in SYSTEMS]:
        p.error(f"unknown systems: {', '.join(unknown)} (known: {', '.join(SYSTEMS)})")
    return args


def main(argv: list[str]) -> int:
    args = _args(argv)
    # SIGTERM unwinds like Ctrl-C, so that the `finally` blocks stop what this started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.sched_setaffinity(0, {int(PRODUCER_CPU)})  # stay off the worker's CPU
    venv.ensure()
    desc = machine.describe()
    date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    command = " ".join(["python -m benches.tasks", *argv])
    header = (
        f"{date}; {desc['cpus']} x {desc['cpu']}, {desc['platform']}; CovetPy "
        f"{desc['covetpy_commit']}{' (dirty tree)' if desc['covetpy_tree_dirty'] else ''}"
        f"; load average {os.getloadavg()[0]:.2f}\n{command}"
    )
    print(header, flush=True)
    chosen = [
        v
        for v in variants()
        if v.system in args.systems and (not args.variants or v.key in args.variants)
    ]
    systems: dict[str, dict[str, Any]] = {}
    for v in chosen:  # throughput first: the common rate comes from the peers' figures
        s = systems.setdefault(v.system, {"system": v.system, "variants": {}, "best": None})
        cell = throughput(v, args)
        s["variants"][v.key] = cell
        m, best = cell["median"], _median(s["best"])
        if m and (best is None or m["completed_per_s"] > best["completed_per_s"]):
            s["best"] = cell
    best_peer = best_peer_rate(systems, args.peer_rate)
    common = args.common_rate or best_peer / 2
    by_key = {v.key: v for v in chosen}
    for s in systems.values():
        m = _median(s["best"])
        if m is None:
            continue
        v = by_key[s["best"]["variant"]]
        s["latency_own"] = latency(v, m["completed_per_s"] / 2, args)
        if common:
            s["latency_common"] = latency(v, common, args)
    text = report(systems)
    checks = targets(systems, best_peer)
    print(
        f"\n{header}\nbest peer: {best_peer:,.0f} completed/s; common rate: {common:,.0f}/s"
        f"\n\n{text}\n",
        flush=True,
    )
    if checks:
        print("| target | measured | met |\n|---|---|---|")
        for t in checks:
            print(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"tasks-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    peers = venv.versions(
        PEERS_BIN / "python",
        ["celery", "kombu", "redis", "hiredis", "arq", "dramatiq", "saq", "uvloop"],
    )
    out.write_text(
        json.dumps(
            {
                "date": date,
                "command": command,
                "options": vars(args) | {"variants": sorted(args.variants)},
                "machine": {**desc, "load_average_at_end": os.getloadavg()},
                "servers": {b: _version(b) for b in ("redis-server", "nats-server")},
                "peers": peers,
                "best_peer_rate": best_peer,
                "common_rate": common,
                "systems": systems,
                "targets": checks,
                "table_markdown": text,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
