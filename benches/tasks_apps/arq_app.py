"""arq for benches/tasks.py.

Worker: `arq benches.tasks_apps.arq_app.WorkerSettings`: `max_jobs=64`, results not kept,
uvloop, and `poll_delay` from `BENCH_TASKS_POLL_DELAY` (default 0.01 s: arq polls its queue,
a sorted set, and its default 0.5 s would bound both throughput and latency). Producer: 64
coroutines awaiting `ArqRedis.enqueue_job` (see producer.py).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from benches.tasks_apps import producer
from benches.tasks_apps.common import QUEUE, URL, option, use_uvloop
from benches.tasks_apps.recorder import record

use_uvloop()


async def noop(ctx: dict[str, Any], sent_at: float, payload: str) -> None:
    record(sent_at, payload)


class WorkerSettings:
    """What `arq benches.tasks_apps.arq_app.WorkerSettings` reads."""

    functions: ClassVar[list[Any]] = [noop]
    queue_name = QUEUE
    redis_settings = RedisSettings.from_dsn(URL)
    max_jobs = 64
    keep_result = 0
    poll_delay = float(option("poll_delay", "0.01"))
    handle_signals = True


def _run(args: Any) -> None:
    pool: ArqRedis | None = None

    async def setup() -> None:
        nonlocal pool
        pool = await create_pool(RedisSettings.from_dsn(URL), default_queue_name=QUEUE)

    async def enqueue(sent_at: float, payload: str) -> Any:
        assert pool is not None
        return await pool.enqueue_job("noop", sent_at=sent_at, payload=payload)

    async def close() -> None:
        if pool is not None:
            await pool.aclose()

    asyncio.run(producer.run_async(args, enqueue, setup, close))


if __name__ == "__main__":
    sys.exit(producer.main(sys.argv[1:], _run))
