"""The load generators of benches/h2_tls.py, pinned to CPU 1, and what their output means.

- h2load (nghttp2) for HTTP/2 (h2c prior knowledge, or h2 by ALPN) and for HTTP/1.1 over TLS
  (`--h1`): requests/s, errors and the negotiated protocol from its report. h2load prints no
  percentiles, only min/max/mean/sd, so p50 and p99 come from its `--log-file` (one line per
  request: start time, status, µs to the last byte) in a separate, shorter run: the log costs
  h2load one write(2) per request, which would slow it in the run that counts requests.
- `covetpy bench --new-conn` (rust/bench/) for new TLS connections per second: one GET per
  connection, closed after the answer, no session resumption, 64 connections at once.
  Where that option is missing, `openssl s_time -new` (one connection at a time, so it
  measures the round trip more than the server).

The load generator's own CPU time over a run (from getrusage of the waited child) is kept
too: near 100 % of the run, the generator and not the server set the rate.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benches.suite.measure import WRK_CPU
from benches.suite.servers import PROJECT_BIN

__all__ = [
    "CONNECTIONS",
    "STREAMS",
    "Figures",
    "h2load",
    "h2load_command",
    "has_new_conn",
    "latency_from_log",
    "new_conn",
    "s_time",
]

CONNECTIONS = 64
STREAMS = 10
"""HTTP/2 streams in flight per connection (h2load -m)."""

H2LOAD_PROTOCOL = {"h2c": "h2c", "h2": "h2", "h1tls": "http/1.1"}


@dataclass
class Figures:
    """One run of a load generator."""

    requests: int
    """Answers received (h2load: requests done)."""
    seconds: float
    requests_per_s: float
    errors: dict[str, int]
    protocol: str | None = None
    mean_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    client_cpu_s: float = 0.0
    """CPU time of the load generator over the run (user+system)."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], pin: bool, timeout: float) -> tuple[str, float]:
    """Runs `cmd` (pinned to the load generator's CPU if `pin`); (stdout, its CPU seconds)."""
    if pin:
        cmd = ["taskset", "-c", WRK_CPU, *cmd]
    before = _children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    cpu = _children_cpu() - before
    if out.returncode != 0 and not out.stdout:
        raise RuntimeError(f"{cmd[0]} exited with {out.returncode}: {out.stderr[-500:]}")
    return out.stdout + out.stderr, cpu


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"not a duration: {text!r}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)]


def h2load_command(mode: str, url: str, seconds: float, log_file: Path | None = None) -> list[str]:
    """h2load with one thread: 64 connections x 10 streams for HTTP/2, 64 keep-alive
    connections (no pipelining) for `--h1`."""
    cmd = ["h2load", "-t", "1", "-c", str(CONNECTIONS), "-D", str(max(1, round(seconds)))]
    cmd += ["--h1"] if mode == "h1tls" else ["-m", str(STREAMS)]
    if log_file is not None:
        cmd += ["--log-file", str(log_file)]
    return [*cmd, url]


def parse_h2load(out: str) -> Figures:
    finished = re.search(r"finished in ([\d.]+)(us|ms|s),", out)
    counts = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    if finished is None or counts is None:
        raise RuntimeError(f"h2load printed no result: {out[-600:]}")
    seconds = _ms(finished.group(1) + finished.group(2)) / 1000
    done, succeeded, failed, errored, timeout = (int(counts.group(i)) for i in range(3, 8))
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    non_2xx = sum(int(codes.group(i)) for i in (2, 3, 4)) if codes else 0
    protocol = re.search(r"Application protocol: (\S+)", out)
    request_time = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    return Figures(
        requests=done,
        seconds=seconds,
        requests_per_s=succeeded / seconds if seconds else 0.0,
        # `failed` counts every request without a 2xx/3xx answer, `errored` the subset that
        # failed below HTTP (resets, closed connections); `timeout` is separate.
        errors={"failed": failed, "timeout": timeout},
        protocol=protocol.group(1) if protocol else None,
        mean_ms=_ms(request_time.group(3)) if request_time else None,
        extra={"errored": errored, "non_2xx": non_2xx, "succeeded": succeeded},
    )


def h2load(mode: str, url: str, seconds: float, pin: bool) -> Figures:
    out, cpu = _run(h2load_command(mode, url, seconds), pin, seconds + 60)
    figures = parse_h2load(out)
    figures.client_cpu_s = cpu
    return figures


def latency_from_log(mode: str, url: str, seconds: float, pin: bool) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, requests logged) of an h2load run with `--log-file` (into /dev/shm
    when it exists, so the writes stay in memory)."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(
        prefix="h2tls-", dir=shm if shm.is_dir() else None
    ) as directory:
        log = Path(directory) / "h2load.log"
        _run(h2load_command(mode, url, seconds, log), pin, seconds + 60)
        latencies = sorted(
            int(parts[2])
            for line in log.read_bytes().splitlines()
            if len(parts := line.split()) == 3 and parts[1] != b"-1"
        )
    if not latencies:
        raise RuntimeError("h2load logged no answered request")

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] / 1000

    return percentile(50), percentile(99), len(latencies)


def has_new_conn() -> bool:
    """Whether this build's `covetpy bench` has `--new-conn`."""
    out = subprocess.run(
        [str(PROJECT_BIN / "covetpy"), "bench", "--help"], capture_output=True, text=True
    )
    return "--new-conn" in out.stdout


def new_conn(url: str, seconds: float, pin: bool) -> Figures:
    """`covetpy bench --new-conn`: 64 connections at once, each one TCP connect, TLS 1.3
    handshake (certificate not verified: `-k`), GET, answer, close."""
    with tempfile.TemporaryDirectory(prefix="h2tls-") as directory:
        report = Path(directory) / "bench.json"
        cmd = [
            str(PROJECT_BIN / "covetpy"), "bench", url, "--new-conn", "-k",
            "-c", str(CONNECTIONS), "-t", "1", "-d", f"{seconds:g}s", "-q",
            "--json", str(report),
        ]  # fmt: skip
        out, cpu = _run(cmd, pin, seconds + 60)
        if not report.exists():
            raise RuntimeError(f"covetpy bench wrote no report: {out[-500:]}")
        r = json.loads(report.read_text())
    statuses = {str(k): int(v) for k, v in r.get("status_counts", {}).items()}
    errors = {k: int(v) for k, v in r["errors"].items() if v}
    bad = sum(n for code, n in statuses.items() if not code.startswith("2"))
    if bad:
        errors["non_2xx"] = bad
    latency = r["latency_us"]
    return Figures(
        requests=int(r["requests"]),
        seconds=float(r["duration_s"]),
        requests_per_s=float(r["requests_per_s"]),
        errors=errors,
        protocol=f"{r.get('protocol')} over {r.get('tls_version')}",
        mean_ms=float(latency["mean"]) / 1000,
        p50_ms=float(latency["percentiles"]["50"]) / 1000,
        p99_ms=float(latency["percentiles"]["99"]) / 1000,
        client_cpu_s=cpu,
        extra={"status_counts": statuses, "reconnects": r.get("reconnects")},
    )


def s_time(port: int, path: str, seconds: float, pin: bool) -> Figures:
    """`openssl s_time -new`: sequential new TLS connections, each with one GET (`-www`)."""
    cmd = [
        "openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
        "-time", str(max(1, round(seconds))), "-www", path,
    ]  # fmt: skip
    out, cpu = _run(cmd, pin, seconds + 60)
    m = re.search(r"(\d+) connections in (\d+) real seconds", out)
    if m is None:
        raise RuntimeError(f"openssl s_time printed no result: {out[-500:]}")
    connections, real = int(m.group(1)), int(m.group(2))
    return Figures(
        requests=connections,
        seconds=float(real),
        requests_per_s=connections / real if real else 0.0,
        errors={},
        protocol="HTTP/1.0 over TLS (openssl s_time)",
        client_cpu_s=cpu,
    )
