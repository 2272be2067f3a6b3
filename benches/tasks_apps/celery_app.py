"""Celery (Redis broker) for benches/tasks.py.

Worker: `celery -A benches.tasks_apps.celery_app worker -Q bench -P solo` (or `-P threads
-c 8`), with gossip, mingle and heartbeats off, results ignored, the prefetch multiplier
`BENCH_TASKS_PREFETCH` (default 256; acks early, Celery's default). Producer: `noop.delay`
in a loop (see producer.py).
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery

from benches.tasks_apps import producer
from benches.tasks_apps.common import QUEUE, URL, option
from benches.tasks_apps.recorder import record

app = Celery("bench", broker=URL)
app.conf.update(
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=int(option("prefetch", "256")),
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop", queue=QUEUE, max_retries=0)
def noop(sent_at: float, payload: str) -> None:
    record(sent_at, payload)


def _send(sent_at: float, payload: str) -> Any:
    return noop.delay(sent_at=sent_at, payload=payload)


if __name__ == "__main__":
    sys.exit(producer.main(sys.argv[1:], lambda args: producer.run_sync(args, _send)))
