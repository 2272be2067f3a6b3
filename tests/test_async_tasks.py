"""Async handlers run inside their own Task from the first step (adrs/0008)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StartServer


def test_first_step_has_a_current_task(start_server: StartServer) -> None:
    server = start_server("tests.apps.tasks:app")
    assert httpx.get(server.url + "/current", timeout=5).json() == {"task": True}
    assert httpx.get(server.url + "/timeout", timeout=5).json() == {"ok": True}


def test_httpx_in_a_handler(start_server: StartServer, monkeypatch: pytest.MonkeyPatch) -> None:
    first = start_server("tests.apps.tasks:app")
    monkeypatch.setenv("TASKS_PORT", str(first.port))
    caller = start_server("tests.apps.tasks:app")
    r = httpx.get(caller.url + "/outbound", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"got": "pong"}
