"""CovetPy durable tasks for benches/tasks.py, on Redis or NATS JetStream (`BENCH_TASKS_URL`).

Worker: `python -m covetpy worker benches.tasks_apps.covetpy_app:app --queues bench
--concurrency 64` where this build has the command; otherwise (the command not written yet)
`python -m benches.tasks_apps.covetpy_app work`, the same consumer in-process: uvloop,
`app.tasks.start(queues=["bench"], concurrency=64)`, closed on SIGTERM. Producer: 64
coroutines awaiting `noop.enqueue` (see producer.py); CovetPy coalesces concurrent enqueues.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from benches.tasks_apps import producer
from benches.tasks_apps.common import QUEUE, URL, option
from benches.tasks_apps.recorder import record
from covetpy import App

app = App(tasks=URL)


@app.task(name="noop", queue=QUEUE, retries=0)
async def noop(sent_at: float, payload: str) -> None:
    record(sent_at, payload)


def _loop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of covetpy's .venv
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _work() -> int:
    """The in-process worker: consumes until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await app.tasks.start(queues=[QUEUE], concurrency=int(option("concurrency", "64")))
        try:
            await stop.wait()
        finally:
            await app.tasks.close()

    _loop()
    asyncio.run(main())
    return 0


def _run(args: Any) -> None:
    async def enqueue(sent_at: float, payload: str) -> Any:
        return await noop.enqueue(sent_at=sent_at, payload=payload)

    async def close() -> None:
        await app.tasks.close()

    _loop()
    asyncio.run(producer.run_async(args, enqueue, None, close))


if __name__ == "__main__":
    if sys.argv[1:2] == ["work"]:
        sys.exit(_work())
    sys.exit(producer.main(sys.argv[1:], _run))
