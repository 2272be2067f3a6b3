"""dramatiq (Redis broker) for benches/tasks.py.

Worker: `dramatiq benches.tasks_apps.dramatiq_app --processes 1 --threads 8 --queues bench`
(the threads from `--threads`; dramatiq's default middleware, no result backend). Producer:
`noop.send` in a loop (see producer.py).
"""

from __future__ import annotations

import sys
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benches.tasks_apps import producer
from benches.tasks_apps.common import QUEUE, URL
from benches.tasks_apps.recorder import record

broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop", queue_name=QUEUE, max_retries=0)
def noop(sent_at: float, payload: str) -> None:
    record(sent_at, payload)


def _send(sent_at: float, payload: str) -> Any:
    return noop.send(sent_at=sent_at, payload=payload)


if __name__ == "__main__":
    sys.exit(producer.main(sys.argv[1:], lambda args: producer.run_sync(args, _send)))
