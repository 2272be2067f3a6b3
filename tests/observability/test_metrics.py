"""covetpy.observability.metrics: one scrape of this process's metrics, or of every worker's in
multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import prometheus_client  # noqa: F401 - imported before a test sets PROMETHEUS_MULTIPROC_DIR
import pytest

from covetpy.events import EventBus
from covetpy.observability import metrics
from tests.events.harness import run, until

ROOT = Path(__file__).resolve().parent.parent.parent

# A worker: multiprocess mode configured (before or after prometheus_client was imported),
# a live gauge, three events published and handled on an in-memory bus; prints its pid.
WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path

    directory, order = Path(sys.argv[1]), sys.argv[2]
    if order == "imported-first":
        import prometheus_client  # picks in-memory values: configure_multiprocess re-picks
    from covetpy.observability import metrics

    metrics.configure_multiprocess(directory, fresh=order == "fresh")
    from prometheus_client import Gauge

    Gauge("test_live_workers", "Workers alive.", multiprocess_mode="livesum").inc()
    from covetpy.events import EventBus

    async def main() -> None:
        bus, handled = EventBus(), []

        @bus.subscribe("orders.*")
        async def on_order(event: dict) -> None:
            handled.append(event)

        async with bus:
            for i in range(3):
                await bus.publish("orders.created", {"i": i})
            while len(handled) < 3:
                await asyncio.sleep(0.01)

    asyncio.run(main())
    print(os.getpid())
    """
)


def worker(directory: Path, order: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(directory), order],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def value(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_render_sums_the_workers_of_a_multiprocess_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "py" / "counter_999999.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by the last server")
    first = worker(tmp_path, "fresh")  # the supervisor's role: starts from an empty directory
    assert not stale.exists()
    second = worker(tmp_path, "imported-first")
    assert first != second

    # The scraping process reads the files; its own metrics are not part of it.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "py"))
    text = metrics.render(tmp_path).decode()
    assert value(text, 'covetpy_events_published_total{topic="orders.created"}') == 6
    assert value(text, 'covetpy_events_consumed_total{outcome="ok",topic="orders.created"}') == 6
    count = 'covetpy_event_handler_duration_seconds_count{topic="orders.created"}'
    assert value(text, count) == 6
    assert value(text, "test_live_workers") == 2

    metrics.mark_dead(first)  # live gauges of an exited worker stop counting; counters stay
    text = metrics.render(tmp_path).decode()
    assert value(text, "test_live_workers") == 1
    assert value(text, 'covetpy_events_published_total{topic="orders.created"}') == 6


def test_render_without_multiprocess_mode_is_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    async def publish() -> None:
        bus, handled = EventBus(), []

        @bus.subscribe("render.*")
        async def on_event(event: Any) -> None:
            handled.append(event)

        async with bus:
            await bus.publish("render.one", {})
            await until(lambda: bool(handled), what="the event handled")

    run(publish())
    for directory in (None, tmp_path):  # a directory multiprocess mode does not write to
        text = metrics.render(directory).decode()
        assert value(text, 'covetpy_events_published_total{topic="render.one"}') == 1
        assert "python_gc_objects_collected_total" in text  # the default registry's


def test_mark_dead_outside_multiprocess_mode_does_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without multiprocess mode there are no per-process files to retire: `mark_dead` (which
    the supervisor calls for every exited worker) must not reach prometheus_client, whose
    `mark_process_dead` would look for them under no directory and raise."""
    from prometheus_client import multiprocess

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", lambda *args: calls.append(args))
    metrics.mark_dead(12345)
    assert calls == []
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_content_type_is_the_text_format() -> None:
    assert metrics.CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
