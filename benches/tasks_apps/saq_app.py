"""SAQ for benches/tasks.py.

Worker: `saq benches.tasks_apps.saq_app.settings --quiet`: one process, `concurrency=64`
(`BENCH_TASKS_CONCURRENCY`), uvloop. Producer: 64 coroutines awaiting `Queue.enqueue` (see
producer.py), each job with `retries=0` and `ttl=-1` (deleted when done, as the other
systems keep no results).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from saq import Queue

from benches.tasks_apps import producer
from benches.tasks_apps.common import QUEUE, URL, option, use_uvloop
from benches.tasks_apps.recorder import record

use_uvloop()


async def noop(ctx: dict[str, Any], *, sent_at: float, payload: str) -> None:
    record(sent_at, payload)


settings = {
    "queue": Queue.from_url(URL, name=QUEUE),
    "functions": [noop],
    "concurrency": int(option("concurrency", "64")),
}


def _run(args: Any) -> None:
    queue = Queue.from_url(URL, name=QUEUE)

    async def enqueue(sent_at: float, payload: str) -> Any:
        return await queue.enqueue("noop", sent_at=sent_at, payload=payload, retries=0, ttl=-1)

    async def setup() -> None:
        await queue.connect()

    async def close() -> None:
        await queue.disconnect()

    asyncio.run(producer.run_async(args, enqueue, setup, close))


if __name__ == "__main__":
    sys.exit(producer.main(sys.argv[1:], _run))
