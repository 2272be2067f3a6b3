"""An app for the supervision tests: which worker answered, memory that grows on demand, and
an import that fails once a marker file exists (a reload to broken code)."""

from __future__ import annotations

import os

from covetpy import App

_marker = os.environ.get("COVETPY_TEST_BROKEN_IF")
if _marker and os.path.exists(_marker):
    raise RuntimeError(f"broken on purpose: {_marker} exists")

app = App()
_held: list[bytearray] = []


@app.get("/pid")
def pid() -> str:
    return str(os.getpid())


@app.get("/grow")
def grow(mb: int) -> str:
    """Keeps `mb` more megabytes alive (written, so they count in the RSS)."""
    _held.append(bytearray(b"x") * (mb * 1024 * 1024))
    return str(os.getpid())
