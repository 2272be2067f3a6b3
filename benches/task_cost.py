"""What an async handler costs over a sync one on this Python, piece by piece (issue 4: async
within 10% of sync; adrs/0008).

    .venv/bin/python -m benches.task_cost

Runs on uvloop, in batches of 8 per loop pass like the server's, pinned to no CPU (run it
under `taskset -c 0` for steadier figures), and prints µs per request for:
- `def`: calling a sync handler and handing its value on;
- `async def`, stepped by hand: the coroutine and its StopIteration, no Task (what ADR 0002 did;
  not correct for handlers that need a current task);
- a bare Task per request (asyncio.Task, one pass of the loop);
- `covetpy._bridge.start`, the server's path (a Task around `_run`, registered for cancels);
- the `all_tasks()` registration alone: on 3.11 every Task is added to a WeakSet (Python
  code) and removed by a weakref callback when it dies.
"""

from __future__ import annotations

import asyncio
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

import uvloop

from covetpy import _bridge

N = 200_000
BATCH = 8


async def handler() -> dict[str, str]:
    return {"message": "Hello, World!"}


def sync_handler() -> dict[str, str]:
    return {"message": "Hello, World!"}


class Responder:
    """Stands in for the Rust Responder: takes the value, does nothing with it."""

    def send(self, value: Any) -> None:
        pass

    def fail(self, exc: BaseException) -> None:
        raise exc


def run(kind: str) -> float:
    """µs per request for one way of running the handler, N requests."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    responder = Responder()
    done = loop.create_future()
    count = 0

    def one(job: int) -> None:
        if kind == "def":
            responder.send(sync_handler())
        elif kind == "stepped":
            coro = handler()
            try:
                coro.send(None)
            except StopIteration as stop:
                responder.send(stop.value)
        elif kind == "task":
            asyncio.Task(handler(), loop=loop, name="h")
        elif kind == "bridge":
            _bridge.start(handler(), responder, job, loop)  # type: ignore[arg-type]

    def tick() -> None:
        nonlocal count
        for _ in range(BATCH):
            one(count)
            count += 1
        if count < N:
            loop.call_soon(tick)
        else:
            loop.call_soon(done.set_result, None)

    start = time.perf_counter()
    loop.call_soon(tick)
    loop.run_until_complete(done)
    elapsed = time.perf_counter() - start
    loop.close()
    return elapsed / N * 1e6


class _Thing:
    pass


def weakset_cost() -> float:
    """µs per object for adding to a WeakSet and being removed when it dies, over the cost of
    making and dropping the object."""

    def timed(body: Callable[[], None]) -> float:
        start = time.perf_counter()
        for _ in range(N):
            body()
        return (time.perf_counter() - start) / N * 1e6

    ws: weakref.WeakSet[_Thing] = weakref.WeakSet()
    plain: list[_Thing] = []
    bare = timed(lambda: plain.append(_Thing()) or plain.clear())
    added = timed(lambda: ws.add(_Thing()))
    return added - bare


def main() -> None:
    print(f"Python {sys.version.split()[0]}, uvloop {uvloop.__version__}, {N:,} requests")
    kinds = ["def", "stepped", "task", "bridge"]
    results: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(3):  # interleaved rounds; the median is printed
        for k in kinds:
            results[k].append(run(k))
    base = sorted(results["def"])[1]
    for k in kinds:
        med = sorted(results[k])[1]
        print(f"{k:>8}: {med:6.3f} µs/request  (+{med - base:.3f} over def)")
    registration = sorted(weakset_cost() for _ in range(3))[1]
    print(f"all_tasks() WeakSet add + removal: {registration:.3f} µs")


if __name__ == "__main__":
    main()
