"""Measuring a WebSocket cell: the same server start, pinning and /proc readings as the HTTP
cells (benches/suite/measure.py), with `covetpy bench ws://…` (one load thread, pinned to
CPU 1) in place of wrk, since wrk speaks no WebSocket.

- ws-echo: messages/s over 64 sockets, and the server's CPU time per echoed message.
- ws-broadcast: deliveries/s (messages received by all subscribers together), and the
  server's CPU time per delivery; latency is from the publisher's send to each delivery.

The load generator runs from the project's venv (`covetpy._core`), like `covetpy bench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benches.suite.servers import PROJECT_BIN, ROOT

if TYPE_CHECKING:
    from benches.suite.measure import Options
    from benches.suite.scenarios import Scenario

__all__ = ["covetpy_bench"]

LOAD_CPU = "1"


def covetpy_bench(port: int, scenario: Scenario, seconds: float, pin: bool) -> dict[str, Any]:
    """Runs `covetpy bench` once against the scenario's socket path and returns its report."""
    assert scenario.ws is not None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [
            str(PROJECT_BIN / "python"), "-m", "covetpy", "bench",
            f"ws://127.0.0.1:{port}{scenario.ws.path}", "-c", str(scenario.connections),
            "-t", "1", "-d", f"{seconds:g}s", "-q", "--timeout", "10s", "--json", str(out),
            *scenario.ws.options,
        ]  # fmt: skip
        if pin:
            cmd = ["taskset", "-c", LOAD_CPU, *cmd]
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, env=os.environ
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"covetpy bench failed: {(done.stderr or done.stdout)[-500:]}")
        report: dict[str, Any] = json.loads(out.read_text())
        return report


def run_figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a suite `Run` takes from a bench report (latencies in ms)."""
    pct = report["latency_us"]["percentiles"]
    errors = report["errors"]
    return {
        "requests": int(report["requests"]),
        "seconds": float(report["duration_s"]),
        "requests_per_s": float(report["requests_per_s"]),
        "p50_ms": pct["50"] / 1000,
        "p99_ms": pct["99"] / 1000,
        "p999_ms": pct["99.9"] / 1000,
        # The suite's error kinds: a failed upgrade or a bad frame counts as "status".
        "errors": {
            "connect": errors["connect"],
            "read": errors["read"] + errors["closed"],
            "write": errors["write"],
            "timeout": errors["timeout"],
            "status": errors["parse"],
        },
    }


def warm_up(port: int, scenario: Scenario, opts: Options) -> None:
    """A short run first, as the HTTP cells have (fills caches, starts lazy paths)."""
    if opts.warmup > 0:
        covetpy_bench(port, scenario, opts.warmup, opts.pin)
