"""ASGI lifespan (spec 2.4, "Lifespan Protocol") under `covetpy run`: start-up before the
first request, shutdown at the drain, state copied into each scope, failures stop the start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.hosting.conftest import covetpy_server

MODULE = "tests.hosting.apps.asgi_lifespan"


def test_startup_state_and_shutdown(tmp_path: Path) -> None:
    record = tmp_path / "lifespan.txt"
    with covetpy_server(f"{MODULE}:app", env={"COVETPY_LIFESPAN_FILE": str(record)}) as server:
        # lifespan.startup.complete came before the server took requests; its state is here.
        assert record.read_text() == "startup\n"
        assert httpx.get(server.url + "/").text == "t0"
        server.proc.terminate()
        assert server.wait(30) == 0, server.log
    # lifespan.shutdown ran at the drain.
    assert record.read_text() == "startup\nshutdown\n"


def run_to_exit(app: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "run", f"{MODULE}:{app}", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_startup_failed_stops_the_server() -> None:
    # lifespan.startup.failed: "the server should log the message and exit".
    done = run_to_exit("failing")
    assert done.returncode != 0
    assert "database unreachable" in done.stderr


def test_raising_during_startup_stops_the_server() -> None:
    done = run_to_exit("crashing")
    assert done.returncode != 0
    assert "config missing" in done.stderr


def test_app_without_lifespan_is_served() -> None:
    # "If an exception is raised when calling the application callable with a lifespan.startup
    # message or a scope with type lifespan, the server must continue but not send any
    # lifespan events."
    with covetpy_server(f"{MODULE}:unsupported") as server:
        assert httpx.get(server.url + "/").text == "served without lifespan"
