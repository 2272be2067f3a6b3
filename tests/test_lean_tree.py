"""The process tree of `covetpy run` (adrs/0020): the supervisor imports neither the app nor
`covetpy.app`; a broken app is reported once by the supervisor, from the workers' reports, with
exit 2; `--standby auto|on|off` keeps a standby when named.

Processes are observed as they are: the supervisor's children in /proc, and imports through a
finder first on `sys.meta_path` (installed by a sitecustomize on PYTHONPATH) that writes the
pid of every process importing a watched module. No assertion on durations.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from covetpy.config import ServerConfig
from tests.conftest import ROOT, RunningServer, StartServer, spawn

pytestmark = pytest.mark.timeout(90)

APP = "tests.apps.supervised:app"

_HOOK = """
import os, sys

_WATCHED = set(os.environ["COVETPY_TEST_WATCHED"].split(","))


class _Watch:
    # First on sys.meta_path: asked for every module not imported yet, by any import route.
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in _WATCHED:
            with open(os.environ["COVETPY_TEST_MARKS"], "a") as f:
                f.write(f"{os.getpid()} {name}\\n")
        return None  # the other finders import it


sys.meta_path.insert(0, _Watch)
"""


def _children(pid: int) -> set[int]:
    """The live (not zombie) child processes of `pid`."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command may hold spaces and parentheses: the fields follow the last ")".
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry))
    return found


def _wait_until(what: str, predicate: object, server: RunningServer, timeout: float = 30) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s:\n{server.log}"
        time.sleep(0.02)


def _serving_pids(server: RunningServer) -> list[int]:
    return [int(p) for p in re.findall(r"worker (\d+) serving on", server.log)]


def _reload(server: RunningServer, count: int = 1) -> None:
    """SIGHUP, and the supervisor's loop has since run its upkeep many times (the standby
    policy included) when "reload complete" is logged."""
    server.proc.send_signal(signal.SIGHUP)
    server.wait_for_log("reload complete", count=count)


def test_the_supervisor_imports_neither_the_app_nor_covetpy_app(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(_HOOK)
    marks = tmp_path / "marks"
    env = {
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "COVETPY_TEST_WATCHED": f"covetpy.app,{APP.split(':')[0]},asyncio",
        "COVETPY_TEST_MARKS": str(marks),
    }
    server = spawn(APP, "--workers", "2", env=env)
    try:
        assert server.ready.wait(30) and server.proc.poll() is None, server.log
        workers = set(_serving_pids(server))
        assert len(workers) == 2, server.log
        imported: dict[int, set[str]] = {}
        for line in marks.read_text().splitlines():
            pid, name = line.split()
            imported.setdefault(int(pid), set()).add(name)
        # The hook works: each worker imported the app, covetpy.app and asyncio.
        for pid in workers:
            assert imported.get(pid) == {"covetpy.app", "tests.apps.supervised", "asyncio"}
        assert server.proc.pid not in imported, imported[server.proc.pid]
    finally:
        assert server.stop(timeout=20) == 0, server.log


@pytest.mark.parametrize(
    ("app", "env", "message"),
    [
        pytest.param(
            "tests.apps.no_such_module:app", {}, "tests.apps.no_such_module:app: ", id="missing"
        ),
        pytest.param(
            APP, {"COVETPY_TEST_BROKEN_IF": "."}, "RuntimeError: broken on purpose", id="raises"
        ),
        pytest.param("tests.apps.conflict:app", {}, "RouteError: ", id="route-conflict"),
        pytest.param(
            "tests.settings.app_module:app",
            {"SHOP_LEVEL": "max"},
            "covetpy: Config: ",
            id="settings",
        ),
    ],
)
def test_a_broken_app_exits_2_with_its_message_once(
    app: str, env: dict[str, str], message: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", app, "--workers", "2", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(message) == 1, proc.stderr
    assert proc.stderr.count("Traceback") <= 1, proc.stderr  # only in the message, if at all


def test_standby_auto_keeps_none_until_a_worker_dies(start_server: StartServer) -> None:
    server = start_server(APP)  # --standby auto is the default
    (first,) = _serving_pids(server)
    _reload(server)
    (second,) = set(_serving_pids(server)) - {first}
    server.wait_for_log(f"worker {first} exited")
    assert "standing by" not in server.log
    assert _children(server.proc.pid) == {second}
    os.kill(second, signal.SIGKILL)
    server.wait_for_log(f"replaced worker {second} (died: killed by SIGKILL)")
    # From then on a standby waits beside the worker...
    server.wait_for_log("standing by")
    _wait_until("two children", lambda: len(_children(server.proc.pid)) == 2, server)
    (third,) = set(_serving_pids(server)) - {first, second}
    os.kill(third, signal.SIGKILL)
    # ... and the next death is taken over by it.
    server.wait_for_log(f"replaced worker {third} (died: killed by SIGKILL)")
    server.wait_for_log("after its activation")
    server.wait_for_log("standing by", count=2)  # and another stands by behind it
    assert server.stop(timeout=20) == 0, server.log


def test_standby_on_keeps_one_from_the_start(start_server: StartServer) -> None:
    server = start_server(APP, "--standby", "on", workers=2)
    server.wait_for_log("standing by")
    _wait_until("three children", lambda: len(_children(server.proc.pid)) == 3, server)
    assert server.stop(timeout=20) == 0, server.log


def test_standby_off_keeps_none_even_after_a_death(start_server: StartServer) -> None:
    server = start_server(APP, "--standby", "off")
    (first,) = _serving_pids(server)
    os.kill(first, signal.SIGKILL)
    server.wait_for_log(f"replaced worker {first} (died: killed by SIGKILL)")
    _reload(server)
    _, second, third = _serving_pids(server)  # in the order they served
    server.wait_for_log(f"worker {second} exited")
    assert "standing by" not in server.log
    assert _children(server.proc.pid) == {third}
    assert server.stop(timeout=20) == 0, server.log


def test_covetpy_standby_0_is_off(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COVETPY_STANDBY", "0")
    server = start_server(APP)
    (first,) = _serving_pids(server)
    os.kill(first, signal.SIGKILL)
    server.wait_for_log(f"replaced worker {first} (died: killed by SIGKILL)")
    _reload(server)
    assert "standing by" not in server.log
    assert server.stop(timeout=20) == 0, server.log


def test_standby_values() -> None:
    assert ServerConfig().standby == "auto"
    assert ServerConfig(standby="0").standby == "off"  # COVETPY_STANDBY=0, as before the option
    assert ServerConfig(standby="1").standby == "on"
    with pytest.raises(ValueError, match="standby must be auto, on or off, not 'always'"):
        ServerConfig(standby="always")


def test_a_worker_without_a_supervisor_says_why_it_cannot_serve() -> None:
    spec = {"app": "tests.apps.conflict:app", "config": dataclasses.asdict(ServerConfig(port=0))}
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy.server.worker"],
        cwd=ROOT,
        env={**os.environ, "COVETPY_WORKER": json.dumps(spec)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("RouteError: ") == 1, proc.stderr
