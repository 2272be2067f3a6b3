"""What machine and what command produced a result: recorded with every result file."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from benches.suite.servers import ROOT

__all__ = ["describe"]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _first_line(cmd: list[str]) -> str | None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    out = (result.stdout or result.stderr).strip().splitlines()
    return out[0] if out else None


def describe() -> dict[str, object]:
    """CPU, memory, kernel, Python, wrk and the CovetPy commit (read-only git)."""
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": _first_line(["wrk", "--version"]),
        "covetpy_commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
        "covetpy_tree_dirty": bool(_first_line(["git", "status", "--porcelain"])),
        "load_average_at_start": os.getloadavg(),
    }
