"""A task: a function a worker runs, with how it is retried and where it is queued.

```python
@app.task(retries=5, backoff="exponential", timeout=30, queue="emails")
async def send_receipt(order_id: int) -> None: ...

handle = await send_receipt.enqueue(order_id=42, _key="receipt-42", _delay=10)
send_receipt(order_id=42)          # still a plain call, run here
```
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from covetpy.events.retry import Backoff
from covetpy.tasks.signature import Arguments

if TYPE_CHECKING:
    from covetpy.tasks.handle import TaskHandle
    from covetpy.tasks.manager import Tasks

__all__ = ["Task", "TaskOptions", "backoff_of"]

P = ParamSpec("P")
R = TypeVar("R")

_BACKOFFS = {
    # Seconds before retry n: 1, 2, 4 ... capped at 5 minutes, ± 20 % so that the tasks that
    # failed together (a database restart) do not come back together.
    "exponential": Backoff(initial=1.0, factor=2.0, maximum=300.0, jitter=0.2),
    "fixed": Backoff(initial=5.0, factor=1.0, maximum=5.0, jitter=0.2),
}


def backoff_of(value: str | Backoff | float) -> Backoff:
    """`"exponential"`, `"fixed"`, a number of seconds (fixed) or a `Backoff`."""
    if isinstance(value, Backoff):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"backoff must not be negative, got {value}")
        return Backoff(initial=float(value), factor=1.0, maximum=float(value), jitter=0.2)
    if isinstance(value, str) and value in _BACKOFFS:
        return _BACKOFFS[value]
    raise ValueError(f"backoff must be exponential, fixed, seconds or a Backoff, not {value!r}")


@dataclass(frozen=True, slots=True)
class TaskOptions:
    queue: str
    retries: int
    """Runs after the first that fail before it is a dead letter (0: none)."""
    backoff: Backoff
    timeout: float | None
    priority: int
    result_ttl: float
    """Seconds a result is kept (0: none kept)."""
    key_ttl: float
    """Seconds an idempotency key is remembered."""


class Task(Generic[P, R]):
    """A registered task (what `@app.task` returns). Calling it runs the function here;
    `enqueue` sends a run to a worker."""

    def __init__(self, tasks: Tasks, fn: Callable[P, Any], name: str, options: TaskOptions) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.arguments = Arguments(fn, name)
        self.is_async = asyncio.iscoroutinefunction(fn)
        self._tasks = tasks
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self.fn(*args, **kwargs)

    async def enqueue(
        self,
        *args: Any,
        _key: str | None = None,
        _delay: float = 0.0,
        _priority: int | None = None,
        _queue: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle:
        """Sends one run to the broker and returns its handle once it is stored. The arguments
        are checked against the signature here (`BadArguments`). `_key`: a second enqueue with
        this key within the task's `key_ttl` is a no-op returning the first one's handle.
        `_delay`: seconds before it may start. `_priority`: 1 (high), 0, -1 (low)."""
        return await self._tasks.enqueue(
            self, args, kwargs, key=_key, delay=_delay, priority=_priority, queue=_queue
        )

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue}>"
