"""Fixtures: start a real `covetpy run` on a free loopback port and talk to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    """Which IO driver the servers of this run use (`make py-test` runs the suite per driver)."""
    return f"covetpy IO driver: {os.environ.get('COVETPY_IO', 'auto')} (COVETPY_IO)"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    """A `covetpy run` process and what it logged."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    uds: str | None = None
    # Set once stderr is read to its end: the last lines are in `lines`.
    pumped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw TCP connection to the server."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Sends `sig` and waits for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        """Waits for the exit code and for the last lines of the log: the exit can be seen
        before the reading thread has them (CI once missed the drain's log line this way)."""
        code = self.proc.wait(timeout)
        self.pumped.wait(5)
        return code

    def wait_for_log(self, text: str, timeout: float = 30.0, count: int = 1) -> None:
        """Waits until `text` appears in the log (`count` times)."""
        deadline = time.monotonic() + timeout
        while self.log.count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged; log was:\n{self.log}")
            time.sleep(0.01)


class StartServer(Protocol):
    def __call__(
        self,
        app: str = ...,
        *args: str,
        workers: int = ...,
        uds: str | None = ...,
        wait: bool = ...,
    ) -> RunningServer: ...


def _pump(server: RunningServer) -> None:
    assert server.proc.stderr is not None
    with server.proc.stderr:
        for line in server.proc.stderr:
            server.lines.append(line)
            if "covetpy serving" in line:
                server.ready.set()
    server.ready.set()  # process ended: stop waiting
    server.pumped.set()


def spawn(
    app: str, *args: str, uds: str | None = None, env: dict[str, str] | None = None
) -> RunningServer:
    """Starts `covetpy run APP ARGS...` on a free port (or `uds`) without waiting for it."""
    port = free_port()
    where = ["--uds", uds] if uds else ["--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "run", app, *where, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )
    server = RunningServer(proc, port, uds=uds)
    threading.Thread(target=_pump, args=(server,), daemon=True).start()
    return server


@contextlib.contextmanager
def running_server(app: str, *args: str) -> Iterator[RunningServer]:
    """A server for a whole test module: started once, drained at the end (exit 0 checked)."""
    server = spawn(app, *args)
    proc = server.proc
    assert server.ready.wait(30) and proc.poll() is None, server.log
    try:
        yield server
    finally:
        code = server.stop(timeout=15)
    assert code == 0, server.log


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts `covetpy run APP ARGS...` and waits until every worker is ready (`wait=False`:
    returns at once, for servers that are not to become ready). Stopped after the test."""
    started: list[RunningServer] = []

    def start(
        app: str = "tests.apps.basic:app",
        *args: str,
        workers: int = 1,
        uds: str | None = None,
        wait: bool = True,
    ) -> RunningServer:
        server = spawn(app, "--workers", str(workers), *args, uds=uds)
        started.append(server)
        if wait and (not server.ready.wait(30) or server.proc.poll() is not None):
            raise AssertionError(f"server did not start; log:\n{server.log}")
        return server

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
            try:
                s.proc.wait(15)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    """The basic test app with short timeouts, so limit tests run fast."""
    return start_server(
        "tests.apps.basic:app",
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--keep-alive-timeout",
        "1",
        "--max-body-size",
        "1024",
        "--max-request-line",
        "256",
        "--max-header-bytes",
        "2048",
        "--max-headers",
        "20",
    )


def exchange(s: socket.socket, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data` and reads until the server closes the connection or `timeout`."""
    s.settimeout(timeout)
    s.sendall(data)
    chunks = []
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except TimeoutError:
        pass
    return b"".join(chunks)


def read_response(s: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Reads exactly one Content-Length response from a keep-alive connection."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head; got {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]
