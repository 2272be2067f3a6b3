"""The errors of durable tasks; each derives from `TaskError`, a `CovetError`."""

from __future__ import annotations

from covetpy.events.retry import NonRetryable
from covetpy.exceptions import CovetError

__all__ = [
    "BadArguments",
    "NoResults",
    "NonRetryable",
    "ResultTimeout",
    "TaskError",
    "TaskFailed",
    "UnknownTask",
]


class TaskError(CovetError):
    """Something about durable tasks went wrong."""


class BadArguments(TaskError, TypeError):
    """The arguments of an enqueue do not fit the task's signature (raised by `enqueue`, so a
    bad call fails where it is made, not in a worker)."""


class UnknownTask(TaskError, LookupError):
    """No task of this name is registered (on a worker: a message from another version of the
    app; it is dead-lettered with this reason)."""


class NoResults(TaskError):
    """The task keeps no result: it returns None, or was declared with `result_ttl=0`."""


class ResultTimeout(TaskError, TimeoutError):
    """`handle.result(timeout=...)` ran out before the task finished."""


class TaskFailed(TaskError):
    """The task failed its last attempt (it is a dead letter); `reason` says why."""

    def __init__(self, task_id: str, reason: str) -> None:
        super().__init__(f"task {task_id} failed: {reason}")
        self.task_id = task_id
        self.reason = reason
