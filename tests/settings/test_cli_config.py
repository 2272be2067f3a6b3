"""`covetpy config module:app`: each effective key, its value and source; secrets redacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(60)

APP = "tests.settings.app_module:app"
SECRET = "postgres://shop:hunter2-config-test@db/shop"


def config(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SHOP_", "COVETPY_"))}
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "config", APP, *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "covetpy.toml").write_text(
        "page_size = 50\n\n[db]\nport = 6432\n\n[server]\nport = 9000\n"
    )
    (tmp_path / ".env").write_text("SHOP_FEATURES=search,cart\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "shop_database_url").write_text(SECRET + "\n")
    return tmp_path


def test_text(project: Path) -> None:
    proc = config(project, "--secrets-dir", "secrets", "--set", "db.host=db", SHOP_LEVEL="high")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["key", "value", "source"]
    v, s = lines[0].index("value"), lines[0].index("source")
    rows = {line[:v].strip(): [line[v:s].strip(), line[s:]] for line in lines[1:]}
    assert rows["server.port"] == ["9000", "covetpy.toml:7"]
    assert rows["server.host"] == ['"127.0.0.1"', "default"]
    assert rows["server.workers"] == ["1", "default"]
    assert rows["database_url"] == ['"**********"', "secret file secrets/shop_database_url"]
    assert rows["page_size"] == ["50", "covetpy.toml:1"]
    assert rows["features"] == ['["search", "cart"]', ".env:1"]
    assert rows["level"] == ['"high"', "env SHOP_LEVEL"]
    assert rows["db.host"] == ['"db"', "--set"]
    assert rows["db.port"] == ["6432", "covetpy.toml:4"]
    assert SECRET not in proc.stdout + proc.stderr and "hunter2" not in proc.stdout


def test_json(project: Path) -> None:
    proc = config(project, "--json", "--secrets-dir", "secrets", COVETPY_PORT="9100")
    assert proc.returncode == 0, proc.stderr
    entries = {e["key"]: (e["value"], e["source"]) for e in json.loads(proc.stdout)}
    assert entries["server.port"] == (9100, "env COVETPY_PORT")
    assert entries["database_url"] == ("**********", "secret file secrets/shop_database_url")
    assert entries["features"] == (["search", "cart"], ".env:1")
    assert entries["timeout"] == (30.0, "default")
    assert "hunter2" not in proc.stdout + proc.stderr


def test_problems_exit_2_without_printing_the_secret(project: Path) -> None:
    proc = config(
        project,
        "--config",
        "covetpy.toml",
        "--set",
        "nope=1",
        SHOP_DATABASE_URL=SECRET,
        SHOP_PAGE_SIZE="many",
        COVETPY_BACKLOG="-",
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "covetpy: configuration: 3 problems\n"
        '  COVETPY_BACKLOG (environment): expected int, got "-"\n'
        '  SHOP_PAGE_SIZE (environment): expected int, got "many"\n'
        "  --set nope: unknown key\n"
    )
