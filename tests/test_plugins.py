"""Plugins (issue 6): dependency order, hooks, errors that name the plugin, what each added,
commands, and discovery of a real installed distribution."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from covetpy import App
from covetpy.plugins import PluginError
from covetpy.testing import StartupError, TestClient
from tests.apps import plugged
from tests.conftest import StartServer, read_response

ROOT = Path(__file__).resolve().parent.parent


def test_plugins_set_up_in_dependency_order_and_hooks_run() -> None:
    plugged.calls.clear()
    app = plugged.build()
    with TestClient(app) as client:
        r = client.get("/")
        assert r.text == "root" and r.headers["x-audited"] == "yes"
        assert client.get("/audit/calls").status_code == 200
    assert plugged.calls == [
        "database.init",
        "audit.init",
        "database.startup",
        "audit.startup",
        "audit.ready",
        "audit.shutdown",
        "database.shutdown",
    ]
    assert [type(p).__name__ for p in app.plugins.ordered] == ["Database", "Audit"]


class Named:
    def __init__(self, name: str, requires: tuple[str, ...] = (), **hooks: Any) -> None:
        self.name = name
        self.requires = requires
        for k, v in hooks.items():
            setattr(self, k, v)


def test_a_missing_requirement_names_both_plugins() -> None:
    app = App(plugins=[Named("a", ("b",))])
    with pytest.raises(PluginError, match="plugin 'a' requires 'b', which is not registered"):
        app.routes  # noqa: B018 - setting up happens on first use


def test_a_cycle_is_named() -> None:
    app = App(plugins=[Named("a", ("b",)), Named("b", ("c",)), Named("c", ("a",))])
    with pytest.raises(PluginError, match="cycle: a -> b -> c -> a"):
        app.routes  # noqa: B018


def test_duplicate_names_and_nameless_plugins_are_refused() -> None:
    with pytest.raises(PluginError, match="two plugins are named 'a'"):
        App(plugins=[Named("a"), Named("a")]).routes  # noqa: B018
    with pytest.raises(PluginError, match="has no name"):
        App(plugins=[object()]).routes  # noqa: B018


def test_a_failing_hook_fails_start_up_with_the_plugin_name() -> None:
    def boom() -> None:
        raise RuntimeError("no database")

    app = App(openapi_url=None, plugins=[Named("db", on_startup=boom)])
    with pytest.raises((StartupError, PluginError), match="plugin 'db': on_startup failed"):
        with TestClient(app):
            pass
    init_fails = App(plugins=[Named("bad", on_app_init=lambda app: 1 / 0)])
    with pytest.raises(PluginError, match="plugin 'bad': on_app_init failed"):
        init_fails.routes  # noqa: B018


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_covetpy_plugins_lists_order_and_additions() -> None:
    out = cli("plugins", "tests.apps.plugged:app")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("1. database (") and "registered" in lines[0]
    assert "     command migrate" in lines
    audit = next(i for i, line in enumerate(lines) if line.startswith("2. audit ("))
    assert "requires database" in lines[audit]
    assert "     route GET /audit/calls" in lines[audit:]
    assert any("middleware tests.apps.plugged" in line for line in lines[audit:])


def test_commands_added_by_plugins_run() -> None:
    out = cli("exec", "tests.apps.plugged:app", "migrate", "--to", "3")
    assert out.returncode == 0, out.stderr
    assert "migrating --to 3" in out.stdout
    listing = cli("exec", "tests.apps.plugged:app")
    assert "commands: migrate" in listing.stdout


def _build_wheel(where: Path) -> Path:
    """A real (if tiny) distribution, `covetpy-hello-plugin`, with a `covetpy.plugins` entry
    point, written as a wheel by hand (no build backend needed offline)."""
    name, version = "covetpy_hello_plugin", "1.0"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (
            "class HelloPlugin:\n"
            "    name = 'hello'\n"
            "    def on_app_init(self, app):\n"
            "        app.get('/hello-from-plugin')(lambda: 'hello from a plugin')\n"
        ),
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: covetpy-hello-plugin\nVersion: {version}\n"
        ),
        f"{dist}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{dist}/entry_points.txt": f"[covetpy.plugins]\nhello = {name}:HelloPlugin\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record
    wheel = where / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def test_an_installed_plugin_distribution_is_discovered(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, timeout=120,
    )  # fmt: skip
    app_file = tmp_path / "discovering.py"
    app_file.write_text(
        "from covetpy import App\n"
        "app = App(openapi_url=None, discover_plugins=True)\n"
        "plain = App(openapi_url=None)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{target}{os.pathsep}{tmp_path}")
    out = cli("plugins", "discovering:app", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1. hello (covetpy_hello_plugin.HelloPlugin; discovered)" in out.stdout
    assert "     route GET /hello-from-plugin" in out.stdout
    # Discovery is opt-in.
    assert cli("plugins", "discovering:plain", env=env).stdout.strip() == "no plugins"


def test_a_worker_runs_on_ready_and_on_drain(start_server: StartServer) -> None:
    server = start_server("tests.apps.plugged:app")
    with server.connect() as s:
        s.sendall(b"GET /audit/calls HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = read_response(s)
    assert status == 200 and "audit.ready" in body.decode()
    assert server.stop() == 0
    assert "plugin audit: draining" in server.log


def test_an_on_drain_that_never_returns_is_cancelled_after_the_drain_grace(
    start_server: StartServer,
) -> None:
    server = start_server("tests.apps.hung_drain:app", "--drain-timeout", "1")
    started = time.monotonic()
    assert server.stop() == 0
    # The grace (1 s) plus 1 s to finish up, not the hook's hour nor the 35 s deadline: a clock
    # tells them apart, with a bound ten times the expected 2 s.
    assert time.monotonic() - started < 20
    assert "outlived the drain's grace: cancelled" in server.log
