"""Process lifecycle: workers, supervision, graceful drain, start-up failures, Unix sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, RunningServer, StartServer, exchange


def _pids(server: RunningServer, n: int, tries: int = 200) -> set[int]:
    """Worker pids seen over new connections (SO_REUSEPORT spreads them over workers)."""
    seen: set[int] = set()
    for _ in range(tries):
        with httpx.Client(base_url=server.url, timeout=5) as c:
            seen.add(c.get("/pid").json()["pid"])
        if len(seen) >= n:
            break
    return seen


def test_two_workers_share_the_port(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", workers=2)
    assert len(_pids(server, 2)) == 2
    assert server.stop() == 0


def test_killed_worker_is_replaced(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", workers=2)
    victim = _pids(server, 1).pop()
    os.kill(victim, signal.SIGKILL)
    server.wait_for_log(f"worker {victim} died")
    server.wait_for_log("serving on", timeout=10)
    deadline = time.monotonic() + 10
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids - {victim}) < 2:
        pids |= _pids(server, 2, tries=20)
    assert len(pids - {victim}) == 2
    assert server.stop() == 0


def test_sigterm_drains_in_flight_requests(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", "--drain-timeout", "60")
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(httpx.get(server.url + "/slow", timeout=30)))
    t.start()
    # An idle keep-alive connection must be closed by the drain, not keep the worker alive.
    idle = server.connect()
    idle.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    server.wait_for_log("slow started")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert results and results[0].status_code == 200
    assert results[0].text == "finished"
    assert results[0].headers["connection"] == "close"
    assert server.wait(60) == 0
    # Exited once /slow (3 s) finished, not at the drain timeout (60 s): a generous bound.
    assert time.monotonic() - started < 30
    assert idle.recv(65536) == b""
    idle.close()
    assert "shutdown hook ran" in server.log


def test_drain_deadline_cuts_stragglers(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", "--drain-timeout", "0.2")
    results: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(server.url + "/slow", timeout=10)
        except httpx.HTTPError as exc:
            results.append(exc)

    t = threading.Thread(target=call)
    t.start()
    server.wait_for_log("slow started")
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0
    t.join(30)
    assert results, "the request outlived the drain deadline"


def test_new_connections_refused_after_drain_starts(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", "--drain-timeout", "30")
    t = threading.Thread(target=lambda: httpx.get(server.url + "/slow", timeout=30))
    t.start()
    server.wait_for_log("slow started")
    server.proc.send_signal(signal.SIGTERM)
    server.wait_for_log("draining")
    # The listener goes on the IO thread's next turn: wait for the refusal, while /slow
    # (3 s) keeps the worker draining.
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as probe:
                probe.recv(1)
        except OSError:
            break
        assert time.monotonic() < deadline, "still accepting while draining"
        time.sleep(0.02)
    t.join(30)
    assert server.wait(30) == 0


def test_route_conflict_fails_startup_naming_both_routes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "tests.apps.conflict:app", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "/users/{user_id:int}" in proc.stderr
    assert "/users/{name}" in proc.stderr


def test_failing_startup_hook_exits_nonzero() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "tests.apps.failing_startup:app", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "database unreachable" in proc.stderr
    assert "failed to start" in proc.stderr


def test_bad_app_reference() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "tests.apps.nope:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "cannot import module" in proc.stderr


def test_port_in_use_is_reported(start_server: StartServer) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "covetpy",
                "run",
                "tests.apps.lifecycle:app",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr


def test_unix_socket(start_server: StartServer, tmp_path: Path) -> None:
    path = str(tmp_path / "covet.sock")
    server = start_server("tests.apps.lifecycle:app", workers=2, uds=path)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        reply = exchange(s, b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    transport = httpx.HTTPTransport(uds=path)
    with httpx.Client(transport=transport, base_url="http://covet") as c:
        assert c.get("/pid").status_code == 200
    assert server.stop() == 0
    assert not os.path.exists(path)


def test_max_connections_answers_503(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", "--max-connections", "2")
    held = [server.connect(), server.connect()]
    for s in held:
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    with server.connect() as extra:
        reply = exchange(extra, b"")
    assert reply.startswith(b"HTTP/1.1 503")
    assert b"retry-after: 1" in reply
    for s in held:
        s.close()
    # Slots come back when connections leave.
    deadline = time.monotonic() + 5
    while True:
        with server.connect() as s:
            reply = exchange(s, b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if reply.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
            break
    assert reply.startswith(b"HTTP/1.1 200")


def test_routes_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "routes", "examples.hello:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0
    assert "/users/{user_id:int}" in proc.stdout
    assert "examples.hello.user" in proc.stdout


def test_access_log_and_io_threads(start_server: StartServer) -> None:
    server = start_server("tests.apps.lifecycle:app", "--access-log", "--io-threads", "2")
    for _ in range(4):
        assert httpx.get(server.url + "/pid?x=1", timeout=5).status_code == 200
    assert httpx.get(server.url + "/missing", timeout=5).status_code == 404
    server.wait_for_log('"GET /pid?x=1" 200')
    server.wait_for_log('"GET /missing" 404')
    assert server.stop() == 0


def test_client_that_stops_reading_is_cut_at_the_write_timeout(start_server: StartServer) -> None:
    server = start_server("tests.apps.basic:app", "--write-timeout", "0.5")
    with server.connect() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /infinite HTTP/1.1\r\nHost: x\r\n\r\n")
        # Never read: the server's writes stall, then time out.
        with httpx.Client(base_url=server.url, timeout=30) as c:
            deadline = time.monotonic() + 30
            while c.get("/infinite-state").json()["closed"] == 0:
                assert time.monotonic() < deadline, "the stalled connection was never cut"
                time.sleep(0.05)
