"""The app the cross-process task tests run under `covetpy worker` / `covetpy run --tasks`.

Every run appends one line `<event> <value> <pid>` to `$TASKS_LOG` (O_APPEND: whole lines
from every process), which the tests read.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from covetpy import App, Request
from covetpy.events import context
from covetpy.tasks import Backoff, current

# mesh=True: every request sets the call context, whose request id an enqueue carries.
app = App(title="tasks-test", tasks=os.environ.get("TASKS_URL", "memory://"), mesh=True)
LOG = Path(os.environ.get("TASKS_LOG", "/dev/null"))
GATE = Path(os.environ.get("TASKS_GATE", "/nonexistent"))


def note(event: str, value: object) -> None:
    with LOG.open("a") as f:
        f.write(f"{event} {value} {os.getpid()}\n")


@app.task(queue="work", retries=3, backoff=Backoff(initial=0.05, jitter=0))
async def record(n: int, pad: str = "") -> None:
    note("done", n)


@app.task(queue="slow", retries=3, timeout=60)
async def slow(n: int) -> None:
    """Starts, then waits for the gate file (the test opens it once it killed the first
    worker), then finishes: idempotent, so a second run after a crash is harmless."""
    note("started", n)
    while not GATE.exists():
        await asyncio.sleep(0.02)
    note("done", n)


@app.task(queue="work", retries=0)
async def traced(n: int) -> None:
    note("requestid", context.request_id.get())


@app.periodic(every=float(os.environ.get("TASKS_EVERY", "0.5")), queue="ticks")
async def tick() -> None:
    run = current()
    note("tick", run.key.rsplit(":", 1)[1] if run and run.key else "?")


@app.post("/orders/{n:int}")
async def order(n: int, request: Request) -> dict[str, int]:
    await traced.enqueue(n=n)
    return {"queued": n}


@app.task(queue="work", retries=0)
async def gated(n: int) -> None:
    """Fails until the gate file exists: a dead letter the test retries once it opened it."""
    if not GATE.exists():
        raise RuntimeError("the gate is closed")
    note("done", n)
