"""`covetpy bench` end to end: the Rust load generator against a real `covetpy run`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, RunningServer, running_server


@pytest.fixture(scope="module")
def hello() -> Iterator[RunningServer]:
    with running_server("examples.hello:app") as server:
        yield server


def bench(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_fixed_request_count(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = bench(hello.url + "/", "-c", "8", "-n", "2000", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 2000
    assert report["status_counts"] == {"200": 2000}
    assert report["errors_total"] == 0 and set(report["errors"].values()) == {0}
    assert report["connections"] == 8 and report["pipeline"] == 1 and report["rate"] is None
    assert report["bytes_read"] > 2000 * len("Hello, World!")
    assert report["requests_per_s"] == pytest.approx(2000 / report["duration_s"], rel=0.01)
    lat = report["latency_us"]
    assert set(lat) == {"min", "mean", "stdev", "max", "percentiles"}
    pcts = [lat["percentiles"][k] for k in ("50", "75", "90", "99", "99.9", "99.99")]
    assert lat["min"] <= pcts[0] and pcts == sorted(pcts) and pcts[-1] <= lat["max"]
    assert "Requests    2,000 in" in done.stdout
    assert "Status      200: 2,000" in done.stdout and "Errors      none" in done.stdout


def test_constant_rate_is_kept(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "rate.json"
    done = bench(hello.url + "/", "-c", "8", "-d", "1s", "--rate", "2000", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["rate"] == 2000 and report["errors_total"] == 0
    assert report["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert report["requests_per_s"] == pytest.approx(2000, rel=0.1)
    assert sum(report["status_counts"].values()) == report["requests"]
    assert "latency counts from intended send times" in done.stdout


def test_pipelined_and_progress_line(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "pipe.json"
    done = bench(
        hello.url + "/users/7", "-c", "4", "-d", "1200ms", "--pipeline", "16", "-t", "2",
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["threads"] == 2 and report["pipeline"] == 16
    assert report["requests"] > 0 and report["status_counts"] == {"200": report["requests"]}
    assert report["errors_total"] == 0
    assert re.search(r"\[\s*1\.0s\] [\d,]+ requests, [\d,]+ req/s, 0 errors", done.stderr)


def test_method_headers_and_body(hello: RunningServer, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"name": "x"}')
    out = tmp_path / "post.json"
    done = bench(
        hello.url + "/", "-c", "2", "-n", "50", "--method", "post", "--body-file", str(body),
        "-H", "content-type: application/json", "-H", "x-test: 1", "-q", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    # `/` only has GET: every POST is a 405, read fully, on the same connections.
    assert report["method"] == "POST"
    assert report["status_counts"] == {"405": 50} and report["reconnects"] == 0
    assert done.stderr == ""


def test_refused_connections_count_as_errors(tmp_path: Path) -> None:
    from tests.conftest import free_port

    out = tmp_path / "down.json"
    done = bench(f"http://127.0.0.1:{free_port()}/", "-c", "2", "-n", "5", "-q", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 0 and report["errors"]["connect"] == 5
    assert "5 failed requests: connect 5" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://127.0.0.1/"], "https is not supported"),
        (["http://127.0.0.1:1/", "-d", "soon"], "bad duration"),
        (["http://127.0.0.1:1/", "-H", "no-colon"], "bad header"),
        (["http://127.0.0.1:1/", "-n", "1", "-H", "content-length: 3"], "set by covetpy bench"),
        (["http://127.0.0.1:1/", "-c", "0"], "must be at least 1"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    done = bench(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_ctrl_c_ends_the_run_with_a_report(hello: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "int.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "bench", hello.url + "/", "-c", "2", "--rate", "200",
         "-d", "30s", "-q", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell may start background jobs with SIGINT ignored; Python then keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("GET ")  # the run has started
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr
    report = json.loads(out.read_text())
    assert report["interrupted"] is True and report["duration_s"] < 10
    assert report["requests"] > 0 and "(interrupted)" in stdout
