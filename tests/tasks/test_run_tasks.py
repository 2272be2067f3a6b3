"""`covetpy run --tasks`: the HTTP workers consume too, and a task enqueued by a request carries
its request id."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from covetpy.config import ServerConfig
from covetpy.events.testing import LocalServer
from tests.conftest import free_port
from tests.tasks.harness import Proc, TaskLog


def test_covetpy_run_with_tasks_consumes_and_carries_the_request_id(
    tmp_path: Path, redis: LocalServer
) -> None:
    env = {
        "TASKS_URL": f"{redis.url}?prefix=h{uuid.uuid4().hex[:8]}",
        "TASKS_LOG": str(tmp_path / "runs.log"),
    }
    log = TaskLog(Path(env["TASKS_LOG"]))
    port = free_port()
    server = Proc(
        [
            "run",
            "tests.tasks.apps:app",
            "--port",
            str(port),
            "--tasks",
            "--task-queues",
            "work",
            "--metrics",
        ],
        env,
    )
    try:
        server.wait_for("tasks: consuming work")
        r = httpx.post(
            f"http://127.0.0.1:{port}/orders/9", headers={"x-request-id": "req-9"}, timeout=10
        )
        assert r.json() == {"queued": 9}
        log.wait(lambda: log.values("requestid")["req-9"] == 1, what="the task's request id")
        # Counted where /metrics sums the workers' Python metrics.
        task = 'task="tests.tasks.apps.traced"'
        log.wait(
            lambda: f"covetpy_tasks_succeeded_total{{{task}}} 1.0" in _scrape(port),
            what="the task's metrics",
        )
        metrics = _scrape(port)
        assert f"covetpy_tasks_enqueued_total{{{task}}} 1.0" in metrics
        assert f"covetpy_tasks_started_total{{{task}}} 1.0" in metrics
        assert f"covetpy_task_start_latency_seconds_count{{{task}}} 1.0" in metrics
    finally:
        assert server.stop() == 0


def test_task_options_are_checked() -> None:
    with pytest.raises(ValueError, match="task_concurrency must be at least 1, got 0"):
        ServerConfig(task_concurrency=0)


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
