"""`python -m benches.suite`: runs every selected (scenario, server) cell one at a time and
writes benches/results/suite-<time>.{json,md,png} (and latest.png after a full run)."""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from typing import Any

from benches.suite import machine, ports, report, venv
from benches.suite.measure import Cell, Options, measure_cell
from benches.suite.scenarios import DEFAULT_SCENARIOS, GROUPS, SCENARIOS
from benches.suite.servers import ROOT, SERVERS, Server, why_not

# wrk -c1000 and a server holding 1,000 sockets each need more than a default 1,024 files;
# c16384 needs 16,384 and more (the hard limit, 20,000 on the VM of 2026-12, caps it).
_FILES = 65536
# Observed start and stop time of a server, for the duration estimate.
_START_STOP_S = 3


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benches.suite", description=__doc__)
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma list; `hosted` (or hosted-asgi, hosted-starlette, hosted-fastapi, "
        "hosted-flask) selects the hosted ASGI/WSGI app scenarios, `hostile` the connection "
        "patterns of issue 20 (default: the native ones)",
    )
    p.add_argument(
        "--servers",
        default=None,
        help="comma list (default: every server that runs one of the scenarios)",
    )
    p.add_argument("--duration", type=float, default=10, help="seconds per run")
    p.add_argument("--runs", type=int, default=3, help="runs per cell (the median is kept)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per cell")
    p.add_argument("--quick", action="store_true", help="1 run x 3 s after 1 s of warm-up")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 3.0, 1.0
    chosen = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    args.scenarios = list(dict.fromkeys(x for n in chosen for x in GROUPS.get(n, (n,))))
    if args.servers is None:
        args.servers = [
            name
            for name, server in SERVERS.items()
            if any(why_not(server, SCENARIOS[n]) is None for n in args.scenarios if n in SCENARIOS)
        ]
    else:
        args.servers = [n.strip() for n in args.servers.split(",") if n.strip()]
    for kind, known in (("scenarios", SCENARIOS), ("servers", SERVERS)):
        unknown = [n for n in getattr(args, kind) if n not in known]
        if unknown:
            p.error(f"unknown {kind}: {', '.join(unknown)} (known: {', '.join(known)})")
    return args


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = _FILES if hard == resource.RLIM_INFINITY else min(_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _unavailable(server: Server, failures: dict[str, str]) -> str | None:
    """Why `server` cannot run here, or None."""
    if server.binary is not None:
        found = shutil.which(server.binary)
        return None if found else f"{server.binary} not on PATH (apt-get install nginx-light)"
    if not server.python.exists():
        hint = "run `make dev`" if server.is_covetpy else "benches/.venv was not created"
        return f"{server.python} missing ({hint})"
    for requirement, reason in failures.items():
        name = requirement.split("=")[0].split("<")[0].split(">")[0].strip().lower()
        if name in server.distributions:
            return f"{requirement} could not be installed: {reason}"
    check = subprocess.run(
        [str(server.python), "-c", "import " + ", ".join(server.imports)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if check.returncode == 0:
        return None
    last = (check.stderr.strip().splitlines() or ["import failed"])[-1][:300]
    if "libuv" in last:
        last += " (the system's libuv: apt-get install libuv1)"
    return f"cannot import {', '.join(server.imports)}: {last}"


def _covetpy_io(cells: list[Cell]) -> str:
    """The IO driver CovetPy's workers reported using (its `io` setting may be `auto`)."""
    drivers = {
        m.group(1)
        for c in cells
        if c.server == "covetpy"
        for m in re.finditer(r"worker \d+: (\w+) IO driver", c.server_log)
    }
    setting = os.environ.get("COVETPY_IO", "auto")
    return f"{', '.join(sorted(drivers)) or 'unknown'} (setting: {setting})"


def main(argv: list[str]) -> int:
    args = _args(argv)
    if not shutil.which("wrk") or not shutil.which("taskset"):
        print("the suite needs wrk and taskset: apt-get install wrk util-linux")
        return 2
    _raise_open_files()
    failures = venv.ensure()
    desc = machine.describe()
    cpus = int(desc["cpus"] or 1)  # type: ignore[call-overload]
    opts = Options(args.duration, args.warmup, args.runs, pin=cpus >= 2)
    servers = [SERVERS[n] for n in args.servers]
    scenarios = [SCENARIOS[n] for n in args.scenarios]

    unavailable: dict[str, str] = {}
    for server in servers:
        why = _unavailable(server, failures)
        if why:
            unavailable[server.name] = why
            print(f"{server.label}: unavailable: {why}")
    versions = {
        s.name: (
            venv.program_versions(s.binary)
            if s.binary is not None
            else venv.versions(s.python, list(s.distributions))
        )
        for s in servers
        if s.name not in unavailable
    }
    measured = sum(
        1
        for sc in scenarios
        for s in servers
        if s.name not in unavailable and why_not(s, sc) is None
    )
    per_cell = opts.warmup + opts.runs * opts.duration + _START_STOP_S
    print(
        f"{desc['cpus']} x {desc['cpu']}, {desc['platform']}; "
        f"{measured} cells x ~{per_cell:.0f} s ≈ {measured * per_cell / 60:.1f} min"
        + ("" if opts.pin else " (one CPU: nothing pinned)"),
        flush=True,
    )

    crowded = ports.warning(max(s.connections for s in scenarios))
    if crowded:
        print(f"warning: {crowded}")
    if os.getloadavg()[0] > 0.5:
        print(f"load average {os.getloadavg()[0]:.2f} before starting: expect noisy figures")
    date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    cells: list[Cell] = []
    summaries: list[dict[str, Any]] = []
    for scenario in scenarios:
        for server in servers:
            if server.name in unavailable:
                cell = Cell(server.name, scenario.name, "unavailable", unavailable[server.name])
            elif (why := why_not(server, scenario)) is not None:
                cell = Cell(server.name, scenario.name, "n/a", why)
            else:
                cell = measure_cell(server, scenario, opts)
            cells.append(cell)
            summaries.append(report.summarize(cell))
            print(report.console(summaries[-1]), flush=True)

    quick = args.quick or (opts.runs == 1 and opts.duration <= 3)
    result: dict[str, Any] = {
        "date": date,
        "command": " ".join(["python -m benches.suite", *argv]),
        "quick": quick,
        "options": {
            "duration": opts.duration,
            "warmup": opts.warmup,
            "runs": opts.runs,
            "pinned": opts.pin,
            "wrk_threads": 1,  # unless a scenario says otherwise (its `wrk_threads`)
        },
        "machine": {**desc, "load_average_at_end": os.getloadavg()},
        "covetpy_io": _covetpy_io(cells),
        "scenarios": {
            s.name: {
                "title": s.title,
                "method": s.method,
                "path": s.path,
                "connections": s.connections,
                "middleware": s.middleware,
                "hosted": s.hosted,
                "kind": s.kind,
                "load": s.load,
                "wrk_threads": s.wrk_threads,
                "unit": s.unit,
            }
            for s in scenarios
        },
        "servers": {
            s.name: {
                "label": s.label,
                "ours": s.ours,
                "distributions": list(s.distributions),
                "versions": versions.get(s.name, {}),
                "unavailable": unavailable.get(s.name),
            }
            for s in servers
        },
        "versions": versions,
        "unavailable": unavailable,
        "cells": summaries,
        "ratios": report.ratios(summaries),
    }
    # The default run (`make bench`) is the one latest.png shows.
    full = set(args.scenarios) == set(DEFAULT_SCENARIOS) and set(args.servers) == {
        n
        for n, s in SERVERS.items()
        if any(why_not(s, SCENARIOS[x]) is None for x in DEFAULT_SCENARIOS)
    }
    written = report.write(result, cells, time.strftime("%Y%m%dT%H%M%S"), latest=full)
    print("\n" + report.markdown(result) + "\n")
    for path in written:
        print(f"written: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
