"""What an enqueue returns: the task's id, its result (when kept) and cancellation."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import msgspec

from covetpy.tasks.errors import NoResults, ResultTimeout, TaskFailed
from covetpy.tasks.message import Outcome

if TYPE_CHECKING:
    from covetpy.tasks.manager import Tasks

__all__ = ["TaskHandle"]

_outcome = msgspec.msgpack.Decoder(Outcome)


class TaskHandle:
    """One enqueued run. `duplicate` is True when its idempotency key had been seen: the handle
    is then the first enqueue's."""

    __slots__ = ("_ref", "_returns", "_tasks", "duplicate", "id", "keeps_result", "task")

    def __init__(
        self,
        tasks: Tasks,
        task_id: str,
        task: str,
        *,
        ref: str | None = None,
        duplicate: bool = False,
        keeps_result: bool = True,
        returns: Any = Any,
    ) -> None:
        self._tasks = tasks
        self.id = task_id
        self.task = task
        self._ref = ref
        self.duplicate = duplicate
        self.keeps_result = keeps_result
        self._returns = returns

    async def result(self, timeout: float | None = None) -> Any:
        """The task's return value, waiting up to `timeout` seconds for it to finish.
        `TaskFailed` when it became a dead letter, `ResultTimeout` past the timeout, `NoResults`
        for a task that keeps none (it returns None, or `result_ttl=0`)."""
        if not self.keeps_result:
            raise NoResults(f"task {self.task} keeps no results (it returns None or result_ttl=0)")
        broker = await self._tasks.connected()
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while True:
            data = await broker.result(self.id)
            if data is not None:
                outcome = _outcome.decode(data)
                if not outcome.ok:
                    raise TaskFailed(self.id, outcome.error or "failed")
                return msgspec.msgpack.decode(outcome.value, type=self._returns)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(f"task {self.task} {self.id} not finished after {timeout}s")
            # Polling, doubling from 2 ms to 100 ms: a quick task is seen quickly and a slow
            # one costs 10 reads a second.
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(wait)
            pause = min(pause * 2, 0.1)

    async def cancel(self) -> bool:
        """Removes the run if no worker has taken it yet: True when it will not run, False when
        it is running, finished, or was never stored here."""
        broker = await self._tasks.connected()
        return await broker.cancel(self.id, self._ref)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task} {self.id}{' duplicate' if self.duplicate else ''}>"
