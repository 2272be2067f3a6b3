"""Who else ran on the benchmark's CPUs, and for how long at a time (`perf sched`).

A request that arrives while another task holds the server's CPU waits for it, however fast
the server is; so does one the load generator should send while its CPU is taken (and
`covetpy bench --rate` counts that wait, as it should). On this VM the kernel's DAMON thread
(`kdamond.0`, proactive reclaim set up by the host) runs ~4 ms at a time every ~0.5 s: a
tail no server avoids. This module records the scheduler during a run and reports, per task
that is neither the server nor the load generator, its runs longer than `LONG_MS`.

    with Recorder(seconds=10) as rec:
        ...  # the run
    for row in rec.stalls(own_pids): ...

Needs `perf` and root; without them `Recorder.available` is False and `stalls()` is empty.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

# A run of another task this long delays a request by about as much (p99 target: 1 ms).
LONG_MS = 0.5
# "   38660.818176 [0000]  kdamond.0[77]    510.805   0.015   4.038"
_LINE = re.compile(
    r"^\s*(?P<t>\d+\.\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<task>.+?)\[(?P<ids>[\d/]+)\]\s+"
    r"(?P<wait>[\d.]+)\s+(?P<delay>[\d.]+)\s+(?P<run>[\d.]+)"
)


class Recorder:
    """`perf sched record` on every CPU while the `with` block runs (at most `seconds`)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.available = shutil.which("perf") is not None
        self._dir = tempfile.TemporaryDirectory()
        self._data = Path(self._dir.name) / "sched.data"
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = -1  # perf's own runs are left out (it does add load while it records)

    def __enter__(self) -> Recorder:
        if self.available:
            self._proc = subprocess.Popen(
                ["perf", "sched", "record", "-a", "-o", str(self._data),
                 "--", "sleep", str(self.seconds)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            self._pid = self._proc.pid
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.wait(self.seconds + 30)
            self.available = self._proc.returncode == 0 and self._data.exists()

    def stalls(self, own_pids: set[int]) -> list[dict[str, Any]]:
        """Other tasks' runs longer than LONG_MS, by task: count, longest, total (ms), the
        CPUs they ran on, and the mean interval between them (s)."""
        if not self.available:
            return []
        out = subprocess.run(
            ["perf", "sched", "timehist", "-i", str(self._data)],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        self._dir.cleanup()
        by_task: dict[str, dict[str, Any]] = {}
        for line in out.splitlines():
            m = _LINE.match(line)
            if m is None:
                continue
            ids = [int(i) for i in m["ids"].split("/")]
            task, run = m["task"].strip(), float(m["run"])
            mine = own_pids.intersection(ids) or self._pid in ids
            if task == "<idle>" or run < LONG_MS or mine:
                continue
            row = by_task.setdefault(
                task, {"task": task, "runs": 0, "longest_ms": 0.0, "total_ms": 0.0,
                       "cpus": set(), "pids": set(), "at": []}
            )  # fmt: skip
            row["pids"].add(ids[-1])
            row["runs"] += 1
            row["longest_ms"] = max(row["longest_ms"], run)
            row["total_ms"] += run
            row["cpus"].add(int(m["cpu"]))
            row["at"].append(float(m["t"]))
        rows = []
        for row in sorted(by_task.values(), key=lambda r: -r["total_ms"]):
            at = row.pop("at")
            row["cpus"] = sorted(row["cpus"])
            row["pids"] = sorted(row["pids"])
            row["every_s"] = (at[-1] - at[0]) / (len(at) - 1) if len(at) > 1 else None
            row["longest_ms"] = round(row["longest_ms"], 3)
            row["total_ms"] = round(row["total_ms"], 3)
            rows.append(row)
        return rows


def describe(rows: list[dict[str, Any]]) -> str:
    """One line: the tasks that held a CPU for more than LONG_MS at a time."""
    if not rows:
        return f"no other task ran longer than {LONG_MS} ms at a time"
    parts = []
    for r in rows[:3]:
        every = f", every {r['every_s']:.2f} s" if r["every_s"] else ""
        parts.append(
            f"{r['task']} (pid {','.join(map(str, r['pids'][:3]))}) {r['runs']}x up to "
            f"{r['longest_ms']:.1f} ms on CPU {','.join(map(str, r['cpus']))}{every}"
        )
    return "other tasks' long runs: " + "; ".join(parts)
