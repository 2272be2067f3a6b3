"""`--busy-poll-us`: an IO thread keeps polling for a while after an answer instead of sleeping
at once (rust/server/spin.rs). Everything is still answered, and an idle worker still sleeps."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from covetpy.config import ServerConfig
from tests.conftest import RunningServer, StartServer

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _tree(server: RunningServer) -> list[int]:
    """The supervisor and its workers (a standby included)."""
    pids = [server.proc.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == server.proc.pid:
                pids.append(int(entry.name))
    return pids


def test_a_busy_polling_worker_answers_everything_then_sleeps(start_server: StartServer) -> None:
    # The longest window allowed, so that most requests arrive while it is open.
    server = start_server("tests.apps.basic:app", "--busy-poll-us", "1000")
    with httpx.Client(base_url=server.url, timeout=5) as c:
        for _ in range(50):
            assert c.get("/").text == "Hello, World!"  # sync handler
            assert c.get("/json").json() == {"message": "hi", "n": [1, 2, 3]}
            assert c.get("/sleep").text == "slept"  # a handler that suspends
            assert c.get("/missing").status_code == 404  # answered in Rust
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 16)  # pipelined
        got = b""
        deadline = time.monotonic() + 5
        while got.count(b"Hello, World!") < 16 and time.monotonic() < deadline:
            got += s.recv(65536)
        assert got.count(b"HTTP/1.1 200 OK\r\n") == 16, got
    pids = _tree(server)
    time.sleep(0.2)  # the window (1 ms) has long closed
    before = _cpu_seconds(pids)
    time.sleep(1.0)
    idle = _cpu_seconds(pids) - before
    # A poller that never went back to sleep would burn a whole CPU second here.
    assert idle < 0.2, f"{idle:.2f} s of CPU in 1 s of idleness"
    assert server.stop() == 0


def test_no_polling_while_a_handler_streams_its_body(start_server: StartServer) -> None:
    # Chunks every ~1 ms, closer together than the window: a thread that polled after each
    # chunk it writes would poll for the whole stream, on the CPU the producer may need.
    server = start_server("tests.apps.basic:app", "--busy-poll-us", "1000")
    pids = _tree(server)
    with httpx.Client(base_url=server.url, timeout=10) as c:
        before, started = _cpu_seconds(pids), time.monotonic()
        r = c.get("/drip")
        used, took = _cpu_seconds(pids) - before, time.monotonic() - started
    assert r.text == "".join(f"{i}\n" for i in range(300))
    # A thread polling through the stream would burn a whole CPU for it (used >= took, the
    # producer's CPU on top); streaming itself costs 0.2-0.7 of the time on a loaded machine
    # (0.23 s over 0.36 s with the other core busy, io_uring driver: the former bound of 0.5
    # failed there), so the bound sits between the two.
    assert used < 0.9 * took, f"{used:.2f} s of CPU over a {took:.2f} s stream"
    assert server.stop() == 0


def test_the_python_threads_polling_never_starves_its_event_loop(
    start_server: StartServer,
) -> None:
    # A load generator keeps a next job coming within every window; the Python thread still
    # polls only once per wake-up, so an async handler's timer keeps firing.
    server = start_server("tests.apps.basic:app", "--busy-poll-us", "1000")
    load = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "bench", server.url + "/", "-c", "16", "-d", "4s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # under way
        took = []
        with httpx.Client(base_url=server.url, timeout=5) as c:
            for _ in range(10):
                started = time.monotonic()
                assert c.get("/sleep").text == "slept"  # awaits asyncio.sleep(0.01)
                took.append(time.monotonic() - started)
        # A real clock is unavoidable: the defect is a timer that fires late. 12-15 ms measured;
        # over 1 s each when each poll that found a job polled again. The median, bounded at
        # 30x the measured time, ignores a request that a busy machine happened to delay.
        median = statistics.median(took)
        assert median < 0.5, f"an async handler took {median:.2f} s beside sync traffic"
    finally:
        load.kill()
        load.wait()
    assert server.stop() == 0


def test_a_window_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="microseconds, at most 1000"):
        ServerConfig(busy_poll_us=50_000)
    assert ServerConfig().busy_poll_us == 0  # off by default
