"""The TechEmpower test types, CovetPy against its peers, on a PostgreSQL of our own (issue 20).

    .venv/bin/python -m benches.techempower.bench                      # everything (~45 min)
    .venv/bin/python -m benches.techempower.bench --quick              # 1 x 3 s per cell
    .venv/bin/python -m benches.techempower.bench --servers covetpy,granian-rsgi --tests db

PostgreSQL 15 (benches/techempower/pg.py: TFB's schema and rows) runs pinned to CPU 1. Each
server runs ONE worker process pinned to CPU 0: CovetPy (`covetpy run
examples.techempower.app:app`, from .venv) and each peer of benches/techempower/peers/ (from
benches/.venv): Granian (RSGI), socketify.py, FastAPI and BlackSheep on uvicorn (httptools,
uvloop), Starlette on peregrine. For every server and test type a fresh server is started, its
answers checked against TFB's rules (peers/check.py), warmed up, then measured `--runs` times
with wrk (one thread, pinned to CPU 1 beside PostgreSQL); the medians are reported.

Load: 256 connections for the database tests (db, queries, fortunes, updates, cached
queries): TFB's highest concurrency level is 512, 256 is the level below, kept so that one wrk
thread sharing CPU 1 with PostgreSQL is not the limit. 64 for json and plaintext, plaintext
pipelined 16 deep as TFB does (wrk's latencies mean nothing there and are not shown).
`queries=20` for the multiple-queries and updates cells; queries=1 and 5 are run too.

Per cell: req/s, p50/p99, errors (socket errors and non-2xx answers), the server tree's CPU µs
per request, and the part of it spent on the thread that runs Python (the worker's main thread;
for CovetPy the rest is its Rust IO threads); how busy CPU 0 (the server) and CPU 1 (PostgreSQL
and wrk) were. A database cell with CPU 1 full and the server below full is marked DB-bound:
there the server's CPU per request still compares, its req/s does not. Per test type: CovetPy /
best peer in req/s and in CPU per request, beside the targets of the issue (>= 1.5x on db,
fortunes and updates, >= 1.3x on 20 queries).

The database's own ceiling is measured once first (peers/ceiling.py: a tight asyncpg client
pinned to CPU 0, PostgreSQL alone on CPU 1), one select per round trip and 20 pipelined; each
database cell shows its selects/s as a share of it.
Writes benches/results/techempower-<timestamp>.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from benches.suite import machine, venv
from benches.suite.measure import (
    SERVER_CPU,
    Served,
    _script,
    cpu_seconds,
    process_tree,
    serve,
    thread_cpu_seconds,
    wrk,
)
from benches.suite.scenarios import LUA_PIPELINE, Scenario
from benches.suite.servers import PEERS_BIN, PROJECT_BIN, ROOT, Server
from benches.techempower.peers import check

RESULTS = ROOT / "benches" / "results"
DB_CONNECTIONS, HTTP_CONNECTIONS = 256, 64
TARGETS = {"db": 1.5, "fortunes": 1.5, "updates-20": 1.5, "queries-20": 1.3}
"""Issue 20: CovetPy's req/s over the best peer's, per test type."""
MAIN = "main thread"
"""What the worker's main thread is called in the per-thread split: it runs the Python code on
every server here (checked on each: Granian's and CovetPy's Rust IO threads are the others;
uvicorn, socketify.py and peregrine serve from their main thread alone)."""
CPU1_FULL = 0.9
"""A database cell is marked DB-bound when PostgreSQL and wrk keep CPU 1 at least this busy
while the server stays below it on CPU 0."""


@dataclass(frozen=True)
class TestType(Scenario):
    """A cell column: the suite's Scenario (path, connections, Lua) plus which of TFB's
    rules checks it and how many database statements one request costs."""

    test: str = ""
    """The key of peers/check.py's PATHS whose rules the answer must meet."""
    statements: int = 0
    pipelined: bool = False
    """Whether its selects go pipelined (`fetchmany`), which PostgreSQL answers faster."""

    def check(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> str | None:
        # Only "is it up": rows are random, so the real check is peers/check.py's.
        return None if status == 200 else f"status {status}: {body[:200]!r}"


def _db(name: str, path: str, test: str, statements: int, pipelined: bool = False) -> TestType:
    return TestType(
        name,
        name,
        path,
        connections=DB_CONNECTIONS,
        test=test,
        statements=statements,
        pipelined=pipelined,
    )


TESTS: dict[str, TestType] = {
    t.name: t
    for t in [
        TestType("json", "json", "/json", test="json"),
        _db("db", "/db", "db", 1),
        _db("queries-20", "/queries?queries=20", "queries", 20, True),
        _db("fortunes", "/fortunes", "fortunes", 1),
        # 20 reads (pipelined) and one UPDATE of the 20 rows.
        _db("updates-20", "/updates?queries=20", "updates", 21, True),
        _db("cached-queries", "/cached-queries?count=20", "cached-queries", 0),
        TestType(
            "plaintext",
            "plaintext",
            "/plaintext",
            lua=LUA_PIPELINE,
            latency=False,
            test="plaintext",
        ),
        _db("queries-1", "/queries?queries=1", "queries", 1),
        _db("queries-5", "/queries?queries=5", "queries", 5, True),
        _db("updates-1", "/updates?queries=1", "updates", 2),
        _db("updates-5", "/updates?queries=5", "updates", 6, True),
    ]
}
QUICK_TESTS = [n for n in TESTS if not n.endswith(("-1", "-5"))]


@dataclass(frozen=True)
class TfbServer(Server):
    supervised: bool = False
    """Whether the first process only supervises (CovetPy) rather than serving."""


def _covetpy(port: int, scenario: Scenario) -> list[str]:
    return [
        str(PROJECT_BIN / "covetpy"), "run", "examples.techempower.app:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "info",
    ]  # fmt: skip


def _granian(port: int, scenario: Scenario) -> list[str]:
    cmd = [
        str(PEERS_BIN / "granian"), "--interface", "rsgi", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "1", "--no-ws",
        "--log-level", "warning",
    ]  # fmt: skip
    if scenario.name == "plaintext":
        cmd.append("--http1-pipeline-flush")  # documented: batches pipelined answers' flushes
    return [*cmd, "benches.techempower.peers.granian_app:app"]


def _uvicorn(module: str) -> Any:
    def command(port: int, scenario: Scenario) -> list[str]:
        return [
            str(PEERS_BIN / "uvicorn"), f"benches.techempower.peers.{module}:app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--http", "httptools", "--loop", "uvloop", "--ws", "none",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip

    return command


def _socketify(port: int, scenario: Scenario) -> list[str]:
    return [str(PEERS_BIN / "python"), "-m", "benches.techempower.peers.socketify_app", str(port)]


def _peregrine(port: int, scenario: Scenario) -> list[str]:
    return [
        str(PEERS_BIN / "peregrine"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--protocol", "asgi", "--log-level", "warning", "--no-websockets",
        "benches.techempower.peers.starlette_app:app",
    ]  # fmt: skip


def servers(dsn: str) -> dict[str, TfbServer]:
    """Every server of the comparison, reading the database at `dsn`."""
    db = lambda port, scenario: {"DATABASE_URL": dsn}  # noqa: E731
    peers = ("asyncpg", "Jinja2", "orjson")
    all_ = [
        TfbServer("covetpy", "CovetPy", ("covetpy",), ("covetpy._core", "examples.techempower.app"),
                  _covetpy, python=PROJECT_BIN / "python", supervised=True,
                  env=lambda port, scenario: {"DATABASE_URL": dsn, "COVETPY_STANDBY": "0"}),
        TfbServer("granian-rsgi", "Granian (RSGI)", ("granian", "uvloop", *peers),
                  ("granian", "asyncpg"), _granian, env=db),
        TfbServer("socketify", "socketify.py", ("socketify", *peers), ("socketify", "asyncpg"),
                  _socketify, env=db),
        TfbServer("fastapi-uvicorn", "FastAPI on uvicorn", ("fastapi", "uvicorn", "pydantic",
                  *peers), ("fastapi", "uvicorn", "httptools", "uvloop", "asyncpg"),
                  _uvicorn("fastapi_app"), env=db),
        TfbServer("blacksheep-uvicorn", "BlackSheep on uvicorn", ("blacksheep", "uvicorn",
                  *peers), ("blacksheep", "uvicorn", "httptools", "uvloop", "asyncpg"),
                  _uvicorn("blacksheep_app"), env=db),
        TfbServer("starlette-peregrine", "Starlette on peregrine", ("starlette",
                  "peregrine-server", *peers), ("starlette", "peregrine._native", "asyncpg"),
                  _peregrine, env=db),
    ]  # fmt: skip
    return {s.name: s for s in all_}


def unavailable(server: TfbServer) -> str | None:
    """Why `server` cannot run here, or None."""
    if not server.python.exists():
        return f"{server.python} missing"
    done = subprocess.run(
        [str(server.python), "-c", "import " + ", ".join(server.imports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or ["import failed"])[-1][:300]


@dataclass
class Run:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    cpu_us: float
    """Server tree CPU µs per request."""
    python_us: float
    """Of which on the thread running Python."""
    threads_us: dict[str, float]
    server_busy: float
    """Share of CPU 0 the server used: near 1, the server is the limit."""
    cpu1_busy: float
    """Share of CPU 1 PostgreSQL and wrk used together: near 1 with the server below it, the
    database (with the load generator) is the limit, not the server."""


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (each wrk run, once it has exited)."""
    t = os.times()
    return t.children_user + t.children_system


@dataclass
class Cell:
    server: str
    test: str
    status: str = "ok"
    reason: str | None = None
    runs: list[Run] = field(default_factory=list)
    server_log: str = ""
    """The end of what the server printed (CovetPy: the IO driver it chose)."""

    def median(self, key: str) -> float:
        return float(statistics.median(getattr(r, key) for r in self.runs))

    def error_count(self) -> int:
        return max((sum(r.errors.values()) for r in self.runs), default=0)


def measure(server: TfbServer, test: TestType, args: argparse.Namespace, postmaster: int) -> Cell:
    """Starts `server` for `test`, checks it, warms it up, measures `args.runs` runs; reads
    the CPU time of the server's tree, of its threads, of PostgreSQL (`postmaster` and its
    backends) and of wrk around each."""
    cell = Cell(server.name, test.name)
    served: Served | None = None
    try:
        with tempfile.TemporaryDirectory() as tmp, serve(server, test, True) as served:
            wrong = check.check(f"http://127.0.0.1:{served.port}", test.test)
            if wrong:
                raise RuntimeError(f"wrong answer ({test.test}): {wrong}")
            script = _script(test, tmp)
            wrk(served.port, test, args.warmup, True, script)
            for _ in range(args.runs):
                pids, pg = process_tree(served.proc.pid), process_tree(postmaster)
                before = (
                    cpu_seconds(pids),
                    thread_cpu_seconds(pids, server.supervised, MAIN),
                    cpu_seconds(pg),
                    _children_cpu(),
                )
                w = wrk(served.port, test, args.duration, True, script)
                after = (
                    cpu_seconds(pids),
                    thread_cpu_seconds(pids, server.supervised, MAIN),
                    cpu_seconds(pg),
                    _children_cpu(),
                )
                n, seconds = max(int(w["requests"]), 1), w["duration_us"] / 1e6
                threads = {k: (v - before[1].get(k, 0.0)) / n * 1e6 for k, v in after[1].items()}
                cell.runs.append(
                    Run(
                        requests_per_s=n / seconds,
                        p50_ms=w["p50_us"] / 1000,
                        p99_ms=w["p99_us"] / 1000,
                        errors={
                            k: int(w[k]) for k in ("connect", "read", "write", "timeout", "status")
                        },
                        cpu_us=(after[0] - before[0]) / n * 1e6,
                        python_us=threads.get(MAIN, 0.0),
                        threads_us={k: round(v, 2) for k, v in threads.items() if v >= 0.05},
                        server_busy=(after[0] - before[0]) / seconds,
                        cpu1_busy=(after[2] - before[2] + after[3] - before[3]) / seconds,
                    )
                )
            served.check_alive()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        cell.status, cell.reason = "failed", str(exc)[:500]
    if served is not None:
        cell.server_log = served.output[-500:]
    return cell


def ceiling(dsn: str, seconds: float, postmaster: int) -> dict[str, Any]:
    """What PostgreSQL answers alone (peers/ceiling.py, the client pinned to CPU 0): per mode
    (`single`, `pipelined_20`) selects/s and the CPU shares, plus `capacity`: selects/s
    scaled to PostgreSQL using all of CPU 1 (the client, not the database, may be the limit
    of the measurement itself)."""
    cmd = [
        "taskset", "-c", SERVER_CPU, str(PEERS_BIN / "python"), "-m",
        "benches.techempower.peers.ceiling", dsn, str(seconds), str(postmaster),
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    db: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    for mode in ("single", "pipelined_20"):
        m = db[mode]
        m["capacity"] = m["selects_per_s"] / max(m["postgres_cpu"], 0.01)
    return db


def _ratio(ours: float | None, best: float | None) -> str:
    return f"{ours / best:.2f}x" if ours and best else "-"


def _row(c: Cell, t: TestType, label: str, db: dict[str, Any]) -> str:
    if c.status != "ok":
        return f"| {label} | {c.status}: {c.reason} |||||||||"
    rps, cpu, py = c.median("requests_per_s"), c.median("cpu_us"), c.median("python_us")
    busy, cpu1 = c.median("server_busy"), c.median("cpu1_busy")
    capped = " (DB-bound)" if t.statements and cpu1 >= CPU1_FULL > busy else ""
    lat = f"{c.median('p50_ms'):.2f} | {c.median('p99_ms'):.2f}" if t.latency else "- | -"
    # The two CPU figures are read a moment apart: the share can round past 100 %.
    share = min(py / cpu, 1.0) if cpu else 0.0
    return (
        f"| {label} | {rps:,.0f}{capped} | {lat} | {c.error_count()} | {cpu:.1f} | "
        f"{py:.1f} ({share:.0%}) | {busy:.0%} | {cpu1:.0%} | {_of_ceiling(t, rps, db)} |"
    )


def _of_ceiling(t: TestType, rps: float, db: dict[str, Any]) -> str:
    """The test's selects/s as a share of what PostgreSQL answers alone, in the same mode
    (an update is counted as one statement: it costs PostgreSQL more than a select)."""
    if not t.statements:
        return "-"
    capacity = db["pipelined_20" if t.pipelined else "single"]["capacity"]
    return f"{rps * t.statements / capacity:.0%}"


def report(cells: list[Cell], names: dict[str, str], db: dict[str, Any]) -> str:
    """Markdown: a table per test type, then CovetPy over the best peer per test type."""
    lines = []
    by_test: dict[str, list[Cell]] = {}
    for c in cells:
        by_test.setdefault(c.test, []).append(c)
    for test, row in by_test.items():
        t = TESTS[test]
        lines += [
            f"\n### {test} (`{t.path}`, {t.connections} connections)\n",
            "| server | req/s | p50 ms | p99 ms | errors | CPU µs/req "
            "| Python thread µs/req (share) | CPU 0 busy (server) "
            "| CPU 1 busy (PostgreSQL + wrk) | selects/s of the DB ceiling |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [_row(c, t, names[c.server], db) for c in row]
    lines += [
        "\n### CovetPy / best peer\n",
        "| test | req/s ratio | target | CPU/req ratio (best peer ÷ CovetPy) |",
        "|---|---:|---:|---:|",
    ]
    for test, row in by_test.items():
        ok = [c for c in row if c.status == "ok"]
        ours = next((c for c in ok if c.server == "covetpy"), None)
        peers = [c for c in ok if c.server != "covetpy"]
        best_rps = max((c.median("requests_per_s") for c in peers), default=None)
        best_cpu = min((c.median("cpu_us") for c in peers), default=None)
        target = TARGETS.get(test)
        rps = _ratio(ours.median("requests_per_s") if ours else None, best_rps)
        cpu = _ratio(best_cpu, ours.median("cpu_us") if ours else None)
        goal = "-"
        if target and ours and best_rps:
            met = ours.median("requests_per_s") / best_rps >= target
            goal = f">= {target}x ({'met' if met else 'not met'})"
        lines.append(f"| {test} | {rps} | {goal} | {cpu} |")
    return "\n".join(lines)


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benches.techempower.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up (5)")
    p.add_argument("--runs", type=int, default=3, help="runs per cell, medians reported (3)")
    p.add_argument("--servers", help="comma list (default: all)")
    p.add_argument("--tests", help=f"comma list of {', '.join(TESTS)} (default: all)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 x 3 s per cell after 1 s of warm-up; queries/updates at 20 only",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.runs = 3.0, 1.0, 1
    args.tests = args.tests.split(",") if args.tests else QUICK_TESTS if args.quick else [*TESTS]
    unknown = [t for t in args.tests if t not in TESTS]
    if unknown:
        p.error(f"unknown tests: {', '.join(unknown)}")
    return args


def main(argv: list[str]) -> int:
    args = _args(argv)
    if not shutil.which("wrk") or not shutil.which("taskset"):
        print("needs wrk and taskset: apt-get install wrk util-linux")
        return 2
    from benches.techempower.pg import Postgres

    venv.ensure()
    started = time.strftime("%Y%m%dT%H%M%S")
    result: dict[str, Any] = {
        "machine": machine.describe(),
        "command": sys.argv,
        "args": vars(args),
        "versions": {},
        "unavailable": {},
    }
    with Postgres(cpus="1") as pg:
        every = servers(pg.dsn)
        chosen = args.servers.split(",") if args.servers else list(every)
        unknown = [n for n in chosen if n not in every]
        if unknown:
            print(f"unknown servers: {', '.join(unknown)} (known: {', '.join(every)})")
            return 2
        assert pg.proc is not None
        db = result["ceiling"] = ceiling(pg.dsn, min(args.duration, 5.0), pg.proc.pid)
        for mode, m in (("single", db["single"]), ("20 pipelined", db["pipelined_20"])):
            print(
                f"PostgreSQL alone on CPU 1, {mode}: {m['selects_per_s']:,.0f} selects/s "
                f"(postgres CPU {m['postgres_cpu']:.0%}, client CPU {m['client_cpu']:.0%}; "
                f"{m['capacity']:,.0f}/s at 100 %)",
                flush=True,
            )
        cells: list[Cell] = []
        for name in chosen:
            server = every[name]
            why = unavailable(server)
            if why:
                print(f"{server.label}: unavailable: {why}", flush=True)
                result["unavailable"][name] = why
                continue
            result["versions"][name] = venv.versions(server.python, list(server.distributions))
            for test in args.tests:
                cell = measure(server, TESTS[test], args, pg.proc.pid)
                cells.append(cell)
                summary = f"{cell.status}: {cell.reason}"
                if cell.status == "ok":
                    rps, cpu = cell.median("requests_per_s"), cell.median("cpu_us")
                    summary = f"{rps:,.0f} req/s, {cpu:.1f} µs/req"
                print(f"{server.label:24} {test:15} {summary}", flush=True)
    names = {s.name: s.label for s in every.values()}
    table = report(cells, names, db)
    result["cells"] = [asdict(c) for c in cells]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"techempower-{started}.json"
    path.write_text(json.dumps(result, indent=2))
    print(table)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
