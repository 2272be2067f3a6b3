"""Durable tasks: functions run by workers, from queues on Redis Streams or NATS JetStream
(or memory, for tests), with retries, dead letters, idempotency keys, delays, priorities,
results and periodic ticks run once across replicas.

```python
app = App(tasks="redis://localhost:6379/0")

@app.task(retries=5, backoff="exponential", timeout=30, queue="emails")
async def send_receipt(order_id: int) -> None: ...

handle = await send_receipt.enqueue(order_id=42, _key="receipt-42", _delay=10)

@app.periodic(cron="*/5 * * * *")
async def reconcile() -> None: ...
```

`covetpy worker module:app --queues emails` consumes; `covetpy tasks module:app` shows the
queues and dead letters. See docs/tasks.md and designs/tasks.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covetpy._lazy import exports

if TYPE_CHECKING:
    from covetpy.events.retry import Backoff
    from covetpy.tasks.context import current
    from covetpy.tasks.errors import (
        BadArguments,
        NonRetryable,
        NoResults,
        ResultTimeout,
        TaskError,
        TaskFailed,
        UnknownTask,
    )
    from covetpy.tasks.handle import TaskHandle
    from covetpy.tasks.manager import Periodic, Tasks
    from covetpy.tasks.task import Task

# Imported on first use: importing one submodule does not import them all (adrs/0020).
__getattr__, __dir__ = exports(
    __name__,
    {
        "covetpy.events.retry": ["Backoff"],
        "covetpy.tasks.context": ["current"],
        "covetpy.tasks.errors": [
            "BadArguments",
            "NonRetryable",
            "NoResults",
            "ResultTimeout",
            "TaskError",
            "TaskFailed",
            "UnknownTask",
        ],
        "covetpy.tasks.handle": ["TaskHandle"],
        "covetpy.tasks.manager": ["Periodic", "Tasks"],
        "covetpy.tasks.task": ["Task"],
    },
)

__all__ = [
    "Backoff",
    "BadArguments",
    "NoResults",
    "NonRetryable",
    "Periodic",
    "ResultTimeout",
    "Task",
    "TaskError",
    "TaskFailed",
    "TaskHandle",
    "Tasks",
    "UnknownTask",
    "current",
]
