"""`app.tasks`, attached as a built-in plugin: the registry is made on first use; consuming
starts after the app's start-up hooks where the run asks for it (`covetpy run --tasks`, or
always on a memory:// broker, which no other process can reach), drains with the other
plugins within the drain's grace, and the broker closes before the app's shutdown hooks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from covetpy.app import App
    from covetpy.config import ServerConfig
    from covetpy.tasks.manager import Tasks

__all__ = ["TasksPlugin"]


class TasksPlugin:
    name = "covetpy.tasks"
    # Alongside the other plugins' drains: running tasks get the whole grace, not what the
    # event bus's drain left of it.
    drain_alone = True

    def __init__(self, tasks: str | Tasks | None, executor: Any) -> None:
        self._spec = tasks
        self._executor = executor
        self.tasks: Tasks | None = None
        self.consume: tuple[list[str] | None, int] | None = None
        """(queues, concurrency) when this process consumes; set by the run's config, by
        `covetpy worker`, or for a memory:// broker."""

    def get(self) -> Tasks:
        if self.tasks is None:
            from covetpy.tasks.manager import Tasks

            if isinstance(self._spec, Tasks):
                self.tasks = self._spec
            else:
                url = self._spec or os.environ.get("COVETPY_TASKS_URL") or "memory://"
                self.tasks = Tasks(url, executor=self._executor)
        return self.tasks

    def on_app_init(self, app: App) -> None:
        app.on_startup(self._start)
        app.on_shutdown(self._close)

    def on_serve(self, app: App, config: ServerConfig) -> None:
        if getattr(config, "tasks", False):
            queues = [q for q in config.task_queues.split(",") if q] or None
            self.consume = (queues, config.task_concurrency)

    async def _start(self) -> None:
        t = self.tasks
        if t is None or not (t.registry or self.consume):
            return
        consume = self.consume
        if consume is None and t.in_process:
            consume = (None, 32)
        if consume is not None:
            await t.start(consume[0], concurrency=consume[1])

    async def on_drain(self, grace: float) -> None:
        if self.tasks is not None:
            await self.tasks.drain(grace)

    async def _close(self) -> None:
        if self.tasks is not None:
            await self.tasks.close()
