"""Tasks across processes on a real redis-server: workers killed mid-task, periodic ticks with
three replicas, 10,000 tasks through two workers, a broker restart, poison messages, and the
`covetpy tasks` / `covetpy worker` / `covetpy run --tasks` commands."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis as redis_client

from covetpy.events.testing import LocalServer, redis_server
from covetpy.tasks import Tasks
from covetpy.tasks.message import Message, encode
from tests.tasks.harness import ROOT, TaskLog, worker

# These start workers and a broker, never the HTTP server: its IO driver changes nothing in
# them, so `make py-test`'s second run (COVETPY_IO=uring) skips them (a minute saved).
pytestmark = pytest.mark.skipif(
    os.environ.get("COVETPY_IO") == "uring", reason="no HTTP server: run once, on epoll"
)


@pytest.fixture()
def env(tmp_path: Path, redis: LocalServer) -> dict[str, str]:
    return {
        "TASKS_URL": f"{redis.url}?prefix=d{uuid.uuid4().hex[:8]}&visibility=1",
        "TASKS_LOG": str(tmp_path / "runs.log"),
        "TASKS_GATE": str(tmp_path / "gate"),
    }


def producer(env: dict[str, str]) -> tuple[Tasks, Any]:
    """The test's own handle on the app's tasks (same registry, same broker)."""
    os.environ["TASKS_URL"] = env["TASKS_URL"]
    import tests.tasks.apps as apps

    tasks = Tasks(env["TASKS_URL"])
    tasks.registry = apps.app.tasks.registry
    return tasks, apps


def send(env: dict[str, str], task: str, *args: Any) -> None:
    """Enqueues one run of `tests.tasks.apps.<task>` from this process."""
    tasks, apps = producer(env)

    async def go() -> None:
        await tasks.enqueue(getattr(apps, task), args, {})
        await tasks.close()

    asyncio.run(go())


def test_a_worker_killed_mid_task_its_run_completes_once_on_another(env: dict[str, str]) -> None:
    log = TaskLog(Path(env["TASKS_LOG"]))
    first = worker(env, "slow")
    send(env, "slow", 7)
    log.wait(lambda: log.values("started")["7"] == 1, what="the first run to start")
    first.stop(signal.SIGKILL)
    second = worker(env, "slow")
    try:
        Path(env["TASKS_GATE"]).touch()
        # Taken over after the visibility timeout (1 s), run again, finished once.
        log.wait(lambda: log.values("done")["7"] == 1, what="the run on the second worker")
        runs = log.lines()
        assert [pid for e, _, pid in runs if e == "done"] == [second.proc.pid]
        assert log.values("done") == {"7": 1}
    finally:
        assert second.stop() == 0


def test_periodic_runs_once_per_tick_with_three_replicas(env: dict[str, str]) -> None:
    log = TaskLog(Path(env["TASKS_LOG"]))
    env = {**env, "TASKS_EVERY": "0.25"}
    replicas = [worker(env, "ticks") for _ in range(3)]
    try:
        # A minute's worth of ticks of a one-second schedule, at four a second.
        log.wait(lambda: len(log.values("tick")) >= 60, timeout=120, what="60 ticks")
    finally:
        for r in replicas:
            assert r.stop() == 0
    ticks = log.values("tick")
    assert max(ticks.values()) == 1, [t for t, n in ticks.items() if n > 1]
    assert len({pid for e, _, pid in log.lines() if e == "tick"}) >= 2  # the replicas share
    # Consecutive: no tick is lost while the replicas run (on a loaded machine a scheduler may
    # wake late, but another replica's enqueue of the same tick stands in for it).
    ms = sorted(int(t) for t in ticks)
    steps = {b - a for a, b in itertools.pairwise(ms)}
    assert steps == {250}, sorted(steps)


def test_ten_thousand_tasks_through_two_workers(env: dict[str, str]) -> None:
    log = TaskLog(Path(env["TASKS_LOG"]))
    env = {**env, "TASKS_URL": env["TASKS_URL"].replace("visibility=1", "visibility=10")}
    tasks, apps = producer(env)
    workers = [worker(env, "work", 64) for _ in range(2)]
    try:

        async def enqueue() -> None:
            for start in range(0, 10_000, 500):
                await asyncio.gather(
                    *(
                        tasks.enqueue(apps.record, (n,), {"pad": "x" * 100})
                        for n in range(start, start + 500)
                    )
                )
            await tasks.close()

        asyncio.run(enqueue())
        log.wait(lambda: len(log.values("done")) == 10_000, timeout=120, what="10,000 runs")
    finally:
        for w in workers:
            assert w.stop() == 0
    done = log.values("done")
    assert set(done) == {str(n) for n in range(10_000)}
    assert max(done.values()) == 1  # no worker died: at-least-once repeated nothing
    assert len({pid for e, _, pid in log.lines() if e == "done"}) == 2


def test_a_broker_restart_loses_nothing_acknowledged(env: dict[str, str]) -> None:
    with redis_server() as own:
        env = {**env, "TASKS_URL": f"{own.url}?prefix=r&visibility=2"}
        log = TaskLog(Path(env["TASKS_LOG"]))
        tasks, apps = producer(env)
        w = worker(env, "work")
        acked: list[int] = []

        async def enqueue(numbers: range) -> None:
            for n in numbers:
                try:
                    await tasks.enqueue(apps.record, (n,), {})
                except (ConnectionError, OSError, redis_client.exceptions.ConnectionError):
                    continue  # not acknowledged: the caller knows it was not stored
                acked.append(n)

        async def scenario() -> None:
            await enqueue(range(300))
            await asyncio.to_thread(own.restart)  # SIGTERM, then up again on the same data
            await enqueue(range(300, 600))
            await tasks.close()

        try:
            asyncio.run(scenario())
            log.wait(lambda: set(map(str, acked)) <= set(log.values("done")), timeout=60,
                     what="every acknowledged enqueue to run")  # fmt: skip
            assert len(acked) >= 300
        finally:
            assert w.stop() == 0


def _inject(url: str, stream: str, data: bytes) -> None:
    client = redis_client.Redis.from_url(url.split("?")[0])
    client.xadd(stream, {b"m": data})
    client.close()


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "tasks", "tests.tasks.apps:app", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_poison_unknown_and_bad_arguments_are_dead_letters_and_the_cli_handles_them(
    env: dict[str, str],
) -> None:
    log = TaskLog(Path(env["TASKS_LOG"]))
    prefix = env["TASKS_URL"].split("prefix=")[1].split("&")[0]
    stream = f"{prefix}:q:work"
    good_args = msgspec.msgpack.encode({"n": 1})
    unknown = Message(id="unknown1", task="gone.in.v2", args=msgspec.Raw(good_args), queue="work")
    bad = Message(id="badargs1", task="tests.tasks.apps.record",
                  args=msgspec.Raw(msgspec.msgpack.encode({"n": "one"})), queue="work")  # fmt: skip
    w = worker(env, "work")
    try:
        _inject(env["TASKS_URL"], stream, b"\xc1 not msgpack")
        _inject(env["TASKS_URL"], stream, encode(unknown))
        _inject(env["TASKS_URL"], stream, encode(bad))
        send(env, "gated", 5)

        def dead() -> list[dict[str, Any]]:
            out = _cli("--json", env=env)
            assert out.returncode == 0, out.stderr
            letters: list[dict[str, Any]] = json.loads(out.stdout)["dead_letters"]
            return letters

        log.wait(lambda: len(dead()) == 4, what="four dead letters")
        reasons = {d.get("task", "?"): d["reason"] for d in dead()}
        assert reasons["gone.in.v2"].startswith("unknown task 'gone.in.v2': not registered")
        assert reasons["tests.tasks.apps.record"].startswith(
            "bad arguments: Expected `int`, got `str` - at `$.n`"
        )
        assert reasons["tests.tasks.apps.gated"] == (
            "failed 1 time(s); last: RuntimeError('the gate is closed')"
        )
        assert any(r.startswith("undecodable message") for r in reasons.values())
        listing = _cli(env=env).stdout
        assert "work" in listing and "dead letters" in listing
        gated = next(d for d in dead() if d.get("task") == "tests.tasks.apps.gated")
        shown = _cli("show", gated["id"], env=env)
        assert "the gate is closed" in shown.stdout and '"n": 5' not in shown.stdout
        Path(env["TASKS_GATE"]).touch()
        assert _cli("retry", gated["id"], env=env).returncode == 0
        log.wait(lambda: log.values("done")["5"] == 1, what="the retried dead letter")
        assert _cli("drop", "unknown1", env=env).returncode == 0
        assert len(dead()) == 2
        assert _cli("show", "nope", env=env).returncode == 1
    finally:
        assert w.stop() == 0


def test_worker_drain_gives_back_a_run_past_the_deadline(env: dict[str, str]) -> None:
    log = TaskLog(Path(env["TASKS_LOG"]))
    w = worker(env, "slow")
    send(env, "slow", 3)
    log.wait(lambda: log.values("started")["3"] == 1, what="the run to start")
    assert w.stop() == 0  # SIGTERM: drain 5 s, the run waits for the gate: given back
    assert "1 run(s) unfinished at the drain deadline; given back" in w.text()
    again = worker(env, "slow")
    try:
        Path(env["TASKS_GATE"]).touch()
        log.wait(lambda: log.values("done")["3"] == 1, what="the given-back run")
    finally:
        assert again.stop() == 0
