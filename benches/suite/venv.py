"""benches/.venv: the peers' own virtual environment, created and filled from
benches/peers/requirements.txt so that CovetPy's .venv never holds a peer.

    python3 -m benches.suite.venv     # what `make bench` runs; the suite also calls ensure()

All requirements are installed in one pip call; if that fails, one at a time, and each line
that still fails is recorded with pip's reason so the report can say why a server is missing.
The install is redone only when requirements.txt changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from benches.suite.servers import PEERS_BIN, ROOT

__all__ = ["ensure", "install_failures", "versions"]

VENV = ROOT / "benches" / ".venv"
REQUIREMENTS = ROOT / "benches" / "peers" / "requirements.txt"
STAMP = VENV / "suite-install.json"


def _requirements() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PEERS_BIN / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *args],
        capture_output=True,
        text=True,
    )  # fmt: skip


def _reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["pip failed"])[-1][:300]


def ensure(log: bool = True) -> dict[str, str]:
    """Creates and fills benches/.venv if needed; returns {requirement: why it failed}."""
    if not (PEERS_BIN / "python").exists():
        if log:
            print(f"creating {VENV.relative_to(ROOT)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if STAMP.exists() and json.loads(STAMP.read_text()).get("requirements") == _digest():
        return install_failures()
    wanted = _requirements()
    if log:
        print(f"installing {len(wanted)} peer packages into {VENV.relative_to(ROOT)}", flush=True)
    failed: dict[str, str] = {}
    if _pip(*wanted).returncode != 0:
        for requirement in wanted:
            result = _pip(requirement)
            if result.returncode != 0:
                failed[requirement] = _reason(result.stderr)
                if log:
                    print(f"  could not install {requirement}: {failed[requirement]}")
    STAMP.write_text(json.dumps({"requirements": _digest(), "failed": failed}, indent=2))
    return failed


def install_failures() -> dict[str, str]:
    """{requirement: reason} for the lines of requirements.txt the last install could not do."""
    if not STAMP.exists():
        return {}
    return dict(json.loads(STAMP.read_text()).get("failed", {}))


def versions(python: Path, distributions: list[str]) -> dict[str, str | None]:
    """The installed version of each distribution in the environment of `python`."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = None\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [str(python), "-c", code, *distributions], capture_output=True, text=True
    )
    if result.returncode != 0:
        return dict.fromkeys(distributions)
    return dict(json.loads(result.stdout))


def program_versions(binary: str) -> dict[str, str | None]:
    """{binary: version} of a system program that prints `name/1.2.3` for `-v` (nginx)."""
    result = subprocess.run([binary, "-v"], capture_output=True, text=True)
    found = re.search(r"/(\d[\w.]*)", result.stdout + result.stderr)
    return {binary: found.group(1) if found else None}


if __name__ == "__main__":
    ensure()
