"""Which run is running: `covetpy.tasks.current()` inside a task gives its message (id, task,
attempt, idempotency key, enqueue time, the enqueuing request's id)."""

from __future__ import annotations

from contextvars import ContextVar

from covetpy.tasks.message import Message

__all__ = ["current", "running"]

running: ContextVar[Message | None] = ContextVar("covetpy.tasks.running", default=None)


def current() -> Message | None:
    """The message of the run in progress (None outside a task). Periodic runs carry the key
    `periodic:<task>:<tick in ms>`."""
    return running.get()
