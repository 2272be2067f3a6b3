"""Fixtures for hosted apps: the same app served by `covetpy run` and by a reference server.

`covetpy_server(app, *args)` starts `covetpy run APP --port P ARGS...` on a free loopback port
and returns once `/livez` answers; `uvicorn_server(app, *args)` starts the same module under
uvicorn (the ASGI reference of the differential tests) and returns once it accepts
connections. Both are context managers that stop the process at the end; each test module
wraps them in module-scoped fixtures so a server is started once per module.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from tests.conftest import ROOT, RunningServer, free_port, spawn

# Generous: a loaded 2-core CI machine starts a Django or FastAPI worker in a few seconds.
START_TIMEOUT = 60.0


def _answers(port: int, path: str) -> bool:
    """Whether an HTTP GET of `path` gets any response on 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


def _wait_ready(server: RunningServer, path: str, what: str) -> None:
    """Polls `path` until it answers; fails with the log if the process ends or time is up."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(server.port, path):
        if server.proc.poll() is not None:
            server.pumped.wait(5)
            raise AssertionError(f"{what} exited with {server.proc.returncode}; log:\n{server.log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready after {START_TIMEOUT} s; log:\n{server.log}")
        time.sleep(0.05)


def _stop(server: RunningServer) -> int:
    """SIGTERM, then SIGKILL if it does not exit within 20 s; the exit code."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        return server.wait(20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        return server.wait(10)


@contextlib.contextmanager
def covetpy_server(
    app: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """`covetpy run APP ARGS...` (one worker unless ARGS say otherwise), ready when `/livez`
    answers; stopped with SIGTERM at the end."""
    server = spawn(app, *args, env=env)
    try:
        _wait_ready(server, "/livez", f"covetpy run {app}")
        yield server
    finally:
        _stop(server)


def _pump_lines(server: RunningServer) -> None:
    assert server.proc.stderr is not None
    with server.proc.stderr:
        for line in server.proc.stderr:
            server.lines.append(line)
    server.ready.set()
    server.pumped.set()


@contextlib.contextmanager
def uvicorn_server(
    app: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """`python -m uvicorn APP --port P ARGS...` (httptools, lifespan auto, no access log),
    ready when it answers any request; stopped with SIGTERM at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            *args,
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )
    server = RunningServer(proc, port)
    threading.Thread(target=_pump_lines, args=(server,), daemon=True).start()
    try:
        _wait_ready(server, "/", f"uvicorn {app}")
        yield server
    finally:
        _stop(server)


def rss_bytes(pid: int) -> int:
    """The resident set size of process `pid` (Linux /proc), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def raw_connection(port: int, timeout: float = 10.0) -> socket.socket:
    """A plain TCP connection to 127.0.0.1:`port`, for requests httpx cannot make (a client
    that stops reading, or goes away mid-request)."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


# The WSGI reference server of the differential tests: the standard library's wsgiref,
# one thread per request (wsgiref's own server is sequential, and a streamed answer would
# hold up the next request of the test), stderr for its log.
_WSGIREF = """
import socketserver, sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from covetpy._importer import import_from_string

class Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass

class Threaded(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

app = import_from_string(sys.argv[1])
make_server("127.0.0.1", int(sys.argv[2]), app, Threaded, Quiet).serve_forever()
"""


@contextlib.contextmanager
def wsgiref_server(app: str, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """The WSGI app `app` (`module:attribute`) under `wsgiref.simple_server` on a free port,
    ready when it answers any request; stopped with SIGTERM at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WSGIREF, app, str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )
    server = RunningServer(proc, port)
    threading.Thread(target=_pump_lines, args=(server,), daemon=True).start()
    try:
        _wait_ready(server, "/", f"wsgiref {app}")
        yield server
    finally:
        _stop(server)


def worker_pid(server: RunningServer) -> int:
    """The pid of the server's worker, from its "serving on" log line (the log is pumped by a
    thread, so the line may lag the server's readiness a little)."""
    import re

    deadline = time.monotonic() + START_TIMEOUT
    while (m := re.search(r"worker (\d+) serving on", server.log)) is None:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    return int(m.group(1))
