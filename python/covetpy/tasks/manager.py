"""`Tasks`: the registry of an app's tasks and periodic tasks, its broker, and its workers.

`App(tasks="redis://…")` makes one (`app.tasks`); a script can make its own with
`Tasks(url)`. The broker connects on first use (an enqueue, `start`); consuming starts only
where asked: `covetpy worker`, `covetpy run --tasks`, or `await tasks.start(...)`. A
`memory://` broker lives in its process, so an app on it consumes in every process it serves
from.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from covetpy.events import context
from covetpy.events.retry import Backoff
from covetpy.exceptions import ConfigError
from covetpy.observability import tracing
from covetpy.tasks import metrics
from covetpy.tasks.backends.base import PRIORITIES, Broker, Outgoing
from covetpy.tasks.cron import Cron, Every, parse
from covetpy.tasks.handle import TaskHandle
from covetpy.tasks.message import Message, encode
from covetpy.tasks.task import Task, TaskOptions, backoff_of

__all__ = ["Periodic", "Tasks"]

logger = logging.getLogger("covetpy.tasks")

F = TypeVar("F", bound=Callable[..., Any])


class Periodic:
    """A task enqueued at each tick of its schedule, once per tick across every replica: each
    scheduler enqueues the tick with the idempotency key `periodic:<name>:<tick>`, and the
    broker stores only the first. Only ticks after a scheduler started are enqueued, so a tick
    missed while no replica ran is skipped, never run late or twice."""

    def __init__(self, task: Task[Any, Any], schedule: Cron | Every) -> None:
        self.task = task
        self.schedule = schedule

    @property
    def period(self) -> float:
        now = time.time()
        first = self.schedule.next(now)
        return self.schedule.next(first) - first


def broker_for(url: str) -> Broker:
    """The broker of a URL: memory://, redis://, rediss://, nats://."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from covetpy.tasks.backends.memory import MemoryBroker

        return MemoryBroker(url)
    if scheme in ("redis", "rediss"):
        from covetpy.tasks.backends.redis import RedisBroker

        return RedisBroker(url)
    if scheme in ("nats", "tls"):
        from covetpy.tasks.backends.nats import NatsBroker

        return NatsBroker(url)
    raise ConfigError(f"tasks: no broker for {url!r} (memory://, redis://, nats://)")


class Tasks:
    """An app's tasks and the broker they travel through."""

    def __init__(
        self,
        url: str | Broker = "memory://",
        *,
        executor: Callable[[], ThreadPoolExecutor] | None = None,
    ) -> None:
        self.broker: Broker = broker_for(url) if isinstance(url, str) else url
        self.registry: dict[str, Task[Any, Any]] = {}
        self.periodics: list[Periodic] = []
        self._executor_factory = executor
        self._executor: ThreadPoolExecutor | None = None
        self._connected = False
        self._connecting: asyncio.Lock | None = None
        self.worker: Any = None
        """The running `Worker`, between `start` and `close`."""

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def in_process(self) -> bool:
        """True for a broker no other process can reach (memory://): its app consumes."""
        return self.url.startswith("memory:")

    # -- declaring ------------------------------------------------------------------------

    def task(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        queue: str = "default",
        retries: int = 3,
        backoff: str | Backoff | float = "exponential",
        timeout: float | None = None,
        priority: int = 0,
        result_ttl: float | None = None,
        key_ttl: float = 86400.0,
    ) -> Any:
        """Registers a task. `retries` failed runs are retried after `backoff`; a run past
        `timeout` seconds is cancelled and counts as failed; `result_ttl` seconds of results
        (default: an hour, none for a function annotated `-> None`); `key_ttl` seconds an
        idempotency key is remembered."""
        if retries < 0:
            raise ValueError(f"retries must not be negative, got {retries}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be more than 0 seconds, got {timeout}")
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be 1 (high), 0 or -1 (low), not {priority!r}")
        _check_queue(queue)
        policy = backoff_of(backoff)

        def register(f: F) -> Task[Any, Any]:
            task_name = name or f"{f.__module__}.{f.__qualname__}"
            if task_name in self.registry:
                raise ConfigError(f"task {task_name} is registered twice")
            task: Task[Any, Any] = Task(self, f, task_name, TaskOptions(
                queue, retries, policy, timeout, priority, 0.0, key_ttl))  # fmt: skip
            ttl = (
                result_ttl
                if result_ttl is not None
                else (0.0 if task.arguments.returns_none else 3600.0)
            )
            task.options = TaskOptions(queue, retries, policy, timeout, priority, ttl, key_ttl)
            self.registry[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def periodic(
        self,
        fn: F | None = None,
        /,
        *,
        cron: str | None = None,
        every: float | None = None,
        name: str | None = None,
        queue: str = "default",
        retries: int = 0,
        timeout: float | None = None,
    ) -> Any:
        """Registers a function without arguments run at each tick of `cron` (5 fields, or 6
        with seconds first; UTC) or `every` seconds, once per tick across all replicas."""
        if (cron is None) == (every is None):
            raise ValueError("periodic: give cron= or every=, one of them")
        if every is not None and every <= 0:
            raise ValueError(f"periodic: every must be more than 0 seconds, got {every}")
        schedule: Cron | Every = parse(cron) if cron is not None else Every(float(every or 0))

        first = schedule.next(time.time())
        # A tick's key outlives the clock skew between replicas and a late scheduler.
        key_ttl = max(2 * (schedule.next(first) - first), 60.0)

        def register(f: F) -> Task[Any, Any]:
            task: Task[Any, Any] = self.task(
                name=name,
                queue=queue,
                retries=retries,
                timeout=timeout,
                result_ttl=0,
                key_ttl=key_ttl,
            )(f)
            if task.arguments.type.__struct_fields__ and any(
                p.default is p.empty for p in task.arguments.signature.parameters.values()
            ):
                raise ConfigError(f"periodic task {task.name} must take no required arguments")
            self.periodics.append(Periodic(task, schedule))
            return task

        return register(fn) if fn is not None else register

    # -- the broker -----------------------------------------------------------------------

    async def connected(self) -> Broker:
        """The broker, connected on first use."""
        if not self._connected:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if not self._connected:
                    await self.broker.connect()
                    self._connected = True
        return self.broker

    async def enqueue(
        self,
        task: Task[Any, Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        *,
        key: str | None = None,
        delay: float = 0.0,
        priority: int | None = None,
        queue: str | None = None,
    ) -> TaskHandle:
        options = task.options
        data = task.arguments.encode(tuple(args), kwargs)
        prio = options.priority if priority is None else priority
        if prio not in PRIORITIES:
            raise ValueError(f"_priority must be 1 (high), 0 or -1 (low), not {prio!r}")
        if delay < 0:
            raise ValueError(f"_delay must not be negative, got {delay}")
        q = queue or options.queue
        if queue is not None:
            _check_queue(queue)
        now = time.time()
        task_id = secrets.token_hex(10)
        request_id, traceparent, tracestate = context.carried()
        with tracing.outbound_span(f"enqueue {task.name}", kind="producer") as sent:
            msg = Message(
                id=task_id,
                task=task.name,
                args=msgspec.Raw(data),
                queue=q,
                priority=prio,
                enqueued=now,
                due=now + delay if delay else 0.0,
                key=key,
                requestid=request_id,
                traceparent=sent or traceparent,
                tracestate=tracestate,
            )
            broker = self.broker if self._connected else await self.connected()
            stored = await broker.enqueue(
                Outgoing(task_id, q, prio, encode(msg), msg.due, key, options.key_ttl)
            )
        if not stored.duplicate:
            metrics.enqueued(task.name)
        return TaskHandle(
            self,
            stored.id,
            task.name,
            ref=stored.ref,
            duplicate=stored.duplicate,
            keeps_result=options.result_ttl > 0,
            returns=task.arguments.returns,
        )

    def handle(self, task_id: str, task: str) -> TaskHandle:
        """The handle of a run enqueued elsewhere (its id and task name)."""
        t = self.registry.get(task)
        return TaskHandle(
            self,
            task_id,
            task,
            keeps_result=t is None or t.options.result_ttl > 0,
            returns=Any if t is None else t.arguments.returns,
        )

    def executor(self) -> ThreadPoolExecutor:
        """Where sync tasks run: the app's thread pool, else one of 16 threads."""
        if self._executor is None:
            self._executor = (
                self._executor_factory()
                if self._executor_factory is not None
                else ThreadPoolExecutor(16, thread_name_prefix="covetpy-task")
            )
        return self._executor

    # -- consuming ------------------------------------------------------------------------

    def queues(self) -> list[str]:
        """Every queue a registered task uses, in registration order."""
        return list(dict.fromkeys(t.options.queue for t in self.registry.values()))

    async def start(
        self,
        queues: Sequence[str] | None = None,
        *,
        concurrency: int = 32,
        visibility: float | None = None,
    ) -> None:
        """Starts consuming `queues` (default: every queue of a registered task) with at most
        `concurrency` runs at once, and the periodic scheduler for the periodic tasks whose
        queue is consumed here."""
        from covetpy.tasks.worker import Worker

        if self.worker is not None:
            raise ConfigError("tasks: already consuming")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        names = list(queues) if queues else self.queues() or ["default"]
        for q in names:
            _check_queue(q)
        await self.connected()
        self.worker = Worker(self, names, concurrency)
        await self.worker.start()
        logger.info(
            "tasks: consuming %s on %s, %d at once",
            ", ".join(names),
            _redacted(self.url),
            concurrency,
        )

    async def drain(self, grace: float = 30.0) -> None:
        """Stops taking tasks, gives the running ones `grace` seconds, and gives back the rest
        to the broker (another worker runs them)."""
        if self.worker is not None:
            await self.worker.drain(grace)

    async def close(self) -> None:
        """Drains at once (if consuming) and disconnects."""
        if self.worker is not None:
            await self.worker.drain(0.0)
            self.worker = None
        if self._connected:
            self._connected = False
            await self.broker.close()
        if self._executor is not None and self._executor_factory is None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None


def _check_queue(queue: str) -> None:
    if not queue or not all(c.isalnum() or c in "-_" for c in queue):
        raise ValueError(f"queue names are letters, digits, - and _, not {queue!r}")


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
