"""The server's own options from the same sources as settings, and `covetpy run` using them
(real servers on free ports; readiness waited for, never slept on)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from covetpy.cli import _parser
from covetpy.settings import SettingsError
from covetpy.settings.server import flags_from, load_server
from covetpy.settings.sources import Sources
from tests.conftest import ROOT, RunningServer, _pump, free_port

pytestmark = pytest.mark.timeout(60)

URL = "postgres://shop:hunter2-server-test@db/shop"
APP = "tests.settings.app_module:app"


def options(argv: list[str] = (), **sources: Any) -> Any:  # type: ignore[assignment]
    sources.setdefault("env", {})
    sources.setdefault("toml_file", None)
    sources.setdefault("dotenv", None)
    sources.setdefault("overrides", ())
    collected = Sources.collect(secrets_dir=None, **sources)
    args = _parser().parse_args(["run", APP, *argv])
    collected.flags = flags_from(args)
    return load_server(collected)


def test_the_order_of_the_sources(tmp_path: Path) -> None:
    """defaults < [server] < .env < COVETPY_* < --set server.* < flags."""
    toml = tmp_path / "covetpy.toml"
    toml.write_text("[server]\nport = 1001\nbody_timeout = '1m'\nmax_body_size = '1MiB'\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text("COVETPY_PORT=1002\n")
    sources: dict[str, Any] = {
        "toml_file": toml,
        "dotenv": dotenv,
        "env": {"COVETPY_PORT": "1003"},
        "overrides": ["server.port=1004"],
    }
    got = options(["--port", "1005"], **sources)
    assert (got.config.port, got.config.body_timeout, got.config.max_body_size) == (
        1005,
        60.0,
        1 << 20,
    )
    assert options(**sources).config.port == 1004
    sources["overrides"] = ()
    assert options(**sources).config.port == 1003
    sources["env"] = {}
    assert options(**sources).config.port == 1002
    sources["dotenv"] = None
    assert options(**sources).config.port == 1001
    sources["toml_file"] = None
    assert options(**sources).config.port == 8000


def test_workers_booleans_and_entries() -> None:
    got = options(["--no-access-log"], env={"COVETPY_WORKERS": "3", "COVETPY_ACCESS_LOG": "true"})
    assert got.workers == 3 and got.config.access_log is False
    assert options(env={"COVETPY_ACCESS_LOG": "1"}).config.access_log is True
    entries = {e.key: e.source for e in got.entries}
    assert entries["server.workers"] == "env COVETPY_WORKERS"
    assert entries["server.access_log"] == "--access-log"
    assert entries["server.host"] == "default"


def test_bad_options_name_their_source(tmp_path: Path) -> None:
    toml = tmp_path / "covetpy.toml"
    toml.write_text("[server]\nhost = '0.0.0.0'\nport = '80'\nprot = 1\nworkers = 0\n")
    with pytest.raises(SettingsError) as exc:
        options(
            toml_file=toml,
            env={"COVETPY_MAX_BODY_SIZE": "lots"},
            overrides=["server.drain_timeout=never"],
        )
    assert [str(p) for p in exc.value.problems] == [
        f"{toml}:3 [server] port: expected int, got str",
        'COVETPY_MAX_BODY_SIZE (environment): expected a size such as "512k", "10MiB" or '
        '"1GB", got "lots"',
        '--set server.drain_timeout: expected a duration such as "30s", "1h30m" or "250ms", '
        'got "never"',
        f"{toml}:5 [server] workers: expected int >= 1, got 0",
        f"{toml}:4 [server] prot: unknown key (did you mean port?)",
    ]


def test_a_check_across_options_names_the_source() -> None:
    with pytest.raises(SettingsError) as exc:
        options(env={"COVETPY_PORT": "70000"})
    assert [str(p) for p in exc.value.problems] == [
        "COVETPY_PORT (environment): port must be 0-65535, got 70000"
    ]


# -- covetpy run ------------------------------------------------------------------------------


def _start(*args: str, env: dict[str, str], cwd: Path = ROOT) -> RunningServer:
    proc = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "run", APP, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env},
    )
    server = RunningServer(proc, int(env.get("PORT", "0")))
    threading.Thread(target=_pump, args=(server,), daemon=True).start()
    return server


@pytest.fixture
def started() -> Iterator[list[RunningServer]]:
    servers: list[RunningServer] = []
    yield servers
    for s in servers:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
            try:
                s.proc.wait(15)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()


def _serve(started: list[RunningServer], port: int, *args: str, **kw: Any) -> RunningServer:
    server = _start(*args, **kw)
    server.port = port
    started.append(server)
    assert server.ready.wait(30) and server.proc.poll() is None, server.log
    return server


def test_run_takes_the_port_from_the_environment(started: list[RunningServer]) -> None:
    port = free_port()
    env = {"COVETPY_PORT": str(port), "SHOP_DATABASE_URL": URL}
    server = _serve(started, port, env=env)
    assert httpx.get(f"{server.url}/livez", timeout=5).status_code == 200
    assert httpx.get(f"{server.url}/page-size", timeout=5).json() == {"page_size": 20}


def test_run_takes_the_server_table_and_hands_set_to_the_workers(
    tmp_path: Path, started: list[RunningServer]
) -> None:
    port = free_port()
    (tmp_path / "covetpy.toml").write_text(f"page_size = 30\n\n[server]\nport = {port}\n")
    env = {"SHOP_DATABASE_URL": URL}
    server = _serve(started, port, "--workers", "2", "--set", "page_size=31", env=env, cwd=tmp_path)
    assert httpx.get(f"{server.url}/livez", timeout=5).status_code == 200
    assert httpx.get(f"{server.url}/page-size", timeout=5).json() == {"page_size": 31}


def test_bad_settings_stop_start_up_with_every_problem(tmp_path: Path) -> None:
    (tmp_path / "covetpy.toml").write_text("page_size = 'ten'\nsize = 1\n\n[server]\nport = 'x'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", APP, "--config", "covetpy.toml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SHOP_LEVEL": "max"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "covetpy: server options: 1 problem\n"
        "  covetpy.toml:5 [server] port: expected int, got str\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", APP, "--set", "server.port=0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SHOP_LEVEL": "max"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.endswith(
        "covetpy: Config: 4 problems\n"
        "  database_url: required, not set (set SHOP_DATABASE_URL, or database_url in "
        "covetpy.toml)\n"
        "  covetpy.toml:1 page_size: expected int, got str\n"
        '  SHOP_LEVEL (environment): expected one of "low", "high", got "max"\n'
        "  covetpy.toml:2 size: unknown key (did you mean page_size?)\n"
    ), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_handler_traceback_does_not_show_a_secret(started: list[RunningServer]) -> None:
    port = free_port()
    env = {"COVETPY_PORT": str(port), "SHOP_DATABASE_URL": URL}
    server = _serve(started, port, "--log-level", "debug", env=env)
    assert httpx.get(f"{server.url}/boom", timeout=5).status_code == 500
    server.wait_for_log("cannot connect to")
    assert server.stop() == 0
    assert "Traceback" in server.log and "**********" in server.log
    assert "hunter2" not in server.log


def test_flags_default_to_none() -> None:
    args: argparse.Namespace = _parser().parse_args(["run", APP])
    assert args.port is None and args.access_log is None and args.workers is None
