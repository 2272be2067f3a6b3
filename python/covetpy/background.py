"""Background tasks: work a handler queues to run after its response has been sent.

```python
@app.post("/signup")
def signup(user: User, tasks: BackgroundTasks) -> dict:
    tasks.add_task(send_welcome_mail, user.email)   # runs once the client has its answer
    return {"ok": True}
```

A handler (or any of its dependencies: they share one instance per request) declares a
parameter annotated `BackgroundTasks`. Its tasks run in the order they were added, in the
worker's event loop, after the response has been handed to the server for sending (for a
streamed response, after its last chunk): async functions are awaited there, sync ones run
in the app's thread pool, so neither blocks the requests that follow.

Failures: an exception is logged on `covetpy.background` with the request id, the task's name
and its traceback, and the next task of the same request still runs (FastAPI stops at the
first failure: tasks queued together are rarely steps of one job, and a mail that could not
be sent should not stop an audit record). The response is not affected: it has been sent.
Tasks are dropped when the handler raises (the response is an error page, not the one the
tasks were queued for), as in FastAPI; once it returned, they run after whatever is sent (a
middleware that fails after it gets its exception rendered, and the tasks run).

The worker's drain waits for the tasks of responses already sent, those queued during the
drain included, until the drain deadline (`drain_timeout`); what is still running then is
cancelled and counted in the log. `covetpy_background_tasks_total{outcome}` (`succeeded`,
`failed`, `cancelled`) and `covetpy_background_tasks_in_flight` are in the `/metrics` scrape.

How the hand-off works (the zero-cost part): nothing here runs for a handler that does not
declare the parameter. One that does gets its instance from the resolver, which calls
`hand_off` when the endpoint returns. A sync endpoint is called from the Rust batch dispatch,
outside any Task, and Rust sends its reply before that callback returns to the event loop:
the Task made here takes its first step after. An async endpoint runs in `_bridge._run`'s
Task, which sends the response after the endpoint (and its middleware) returned: the batch
waits in `pending` until `_bridge._run` has sent it (`send_then_start`).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ParamSpec

from covetpy.mesh import context as mesh

if TYPE_CHECKING:
    from covetpy._core import Responder
    from covetpy.requests import Request

__all__ = ["BackgroundTask", "BackgroundTasks", "busy", "drain", "idle"]

P = ParamSpec("P")
logger = logging.getLogger("covetpy.background")


@dataclasses.dataclass(frozen=True, slots=True)
class BackgroundTask:
    """One queued call: `func(*args, **kwargs)`."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    @property
    def name(self) -> str:
        """The function's qualified name, for logs."""
        func = self.func
        while isinstance(func, functools.partial):
            func = func.func
        return str(getattr(func, "__qualname__", None) or repr(func))

    @property
    def is_async(self) -> bool:
        """Whether calling it gives a coroutine to await (else it runs in the thread pool)."""
        func = self.func
        while isinstance(func, functools.partial):
            func = func.func
        return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - an instance with an async __call__
        )


class BackgroundTasks:
    """The tasks of one request, run after its response (FastAPI's `BackgroundTasks`).

    Declare a handler or dependency parameter with this annotation to get the request's
    instance; `add_task(func, *args, **kwargs)` queues a call."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: Iterable[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks or ())

    def add_task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        """Queues `func(*args, **kwargs)` to run after the response, after those queued
        before it. `func` may be sync (run in the app's thread pool) or async."""
        self.tasks.append(BackgroundTask(func, args, kwargs))

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"BackgroundTasks([{', '.join(t.name for t in self.tasks)}])"


# -- the hand-off from a request --------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Batch:
    """The tasks of one request, with what running them needs."""

    tasks: list[BackgroundTask]
    request_id: str | None
    executor: Callable[[], Executor]
    context: contextvars.Context
    stream: _StreamEnd | None = None
    left: int = 0
    """Tasks not finished yet (those cancelled at the drain deadline are counted from it)."""


pending: dict[tuple[int, asyncio.AbstractEventLoop], _Batch] = {}
"""Batches of async endpoints by (request job, loop), waiting for `_bridge._run` to send their
response. `_bridge._run` looks here only when it is not empty: requests without background
tasks pay one truth test."""

# Running batches by their Task (of every loop: a test client serves from its own thread);
# asyncio keeps only weak references to Tasks.
_running: dict[asyncio.Task[None], _Batch] = {}


def hand_off(
    request: Request, tasks: BackgroundTasks, executor: Callable[[], Executor], result: Any
) -> None:
    """Called by the endpoint that returned `result` for `request`: its tasks run once the
    response has been sent (see the module docstring)."""
    if not tasks.tasks:
        return
    try:
        loop = asyncio.get_running_loop()
        in_task = asyncio.current_task(loop) is not None
    except RuntimeError:  # the inline bridge experiment (adrs/0002): no loop on that thread
        logger.error("background tasks dropped: no event loop runs this request's handler")
        return
    batch = _Batch(list(tasks.tasks), _request_id(request), executor, _task_context(request))
    if in_task:
        pending[request.job, loop] = batch
    else:
        # Rust sends this reply when the batch of requests ends, before the loop runs the
        # Task's first step; a stream's pump starts then too.
        batch.stream = _track(result, loop)
        _start(batch, loop)


def send_then_start(responder: Responder, value: Any, job: int) -> None:
    """`_bridge._run`'s send when batches are pending: sends `value`, then starts the batch
    of request `job` if its endpoint queued one."""
    loop = asyncio.get_running_loop()
    batch = pending.pop((job, loop), None)
    if batch is not None:
        batch.stream = _track(value, loop)
        # Registered before the send, so from the moment the response is out it is in
        # `_running` (`busy()`); its first step still comes after this one.
        _start(batch, loop)
    responder.send(value)


def discard(job: int) -> None:
    """Drops the batch of request `job`: its handler Task failed past the chain's own
    error handling, or was cancelled (client gone, 504), so no response of its is sent."""
    pending.pop((job, asyncio.get_running_loop()), None)


def _request_id(request: Request) -> str | None:
    return request.request_id or request.header("x-request-id")


def _task_context(request: Request) -> contextvars.Context:
    """The context the tasks run in: the handler's (its contextvars), with the call context
    (`covetpy.mesh.context.current`, which JSON logs read the request id from) set, without
    the request's deadline: the tasks run after it, their outbound calls must not inherit it."""
    context = contextvars.copy_context()
    call = context.get(mesh.current)
    if call is None:
        call = mesh.CallContext(_request_id(request), getattr(request, "traceparent", None))
    elif call.deadline is not None:
        call = mesh.CallContext(call.request_id, call.traceparent, call.tracestate, None, call.b3)
    else:
        return context
    context.run(mesh.current.set, call)
    return context


def _start(batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
    batch.left = len(batch.tasks)
    made = _metrics()
    if made is not None:
        _count(made.in_flight.inc, batch.left)
    # Made directly, never eagerly: the first step must come after the reply is sent.
    task = asyncio.Task(
        _run_batch(batch, made), loop=loop, name="covetpy-background", context=batch.context
    )
    _running[task] = batch
    task.add_done_callback(_finished)


def _finished(task: asyncio.Task[None]) -> None:
    """Forgets a batch; counts what it left undone (cancelled at the drain deadline or by
    the loop's end, maybe before its first step) and takes it out of the in-flight gauge
    (once per batch: a gauge update costs about what running a no-op task does)."""
    batch = _running.pop(task)
    made = _metrics()
    if made is not None:
        if batch.left:
            _count(made.outcomes[2].inc, batch.left)
        _count(made.in_flight.dec, len(batch.tasks))


# -- running them -----------------------------------------------------------------------------


async def _run_batch(batch: _Batch, made: _Metrics | None) -> None:
    """Runs a batch's tasks in order; a failure is logged and the next one runs."""
    if batch.stream is not None:
        await batch.stream.ended()
    for task in batch.tasks:
        try:
            if task.is_async:
                await task.func(*task.args, **task.kwargs)
            else:
                run = functools.partial(
                    contextvars.copy_context().run, task.func, *task.args, **task.kwargs
                )
                await asyncio.get_running_loop().run_in_executor(batch.executor(), run)
        except Exception as exc:
            logger.error(
                "background task %s of request %s failed",
                task.name,
                batch.request_id or "-",
                exc_info=exc,
            )
            outcome = 1
        else:
            outcome = 0
        batch.left -= 1
        if made is not None:
            _count(made.outcomes[outcome].inc, 1)


def busy() -> bool:
    """Whether any loop of this process has background tasks queued or running (a cheap
    test, safe from any thread; `idle()` waits)."""
    return bool(pending or _running)


def _of(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
    return [t for t in list(_running) if t.get_loop() is loop]


async def idle() -> None:
    """Waits until this loop runs no background task (those started meanwhile included):
    what the test clients await after each response."""
    loop = asyncio.get_running_loop()
    while running := _of(loop):
        await asyncio.wait(running)


async def drain(timeout: float) -> int:
    """Waits up to `timeout` seconds until this loop runs no background task (those started
    meanwhile included), then cancels what is left; returns how many tasks were cancelled
    (logged). Called by the worker once HTTP has drained."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while running := _of(loop):
        left = end - loop.time()
        if left <= 0:
            cancelled = sum(_running[t].left for t in running if t in _running)
            logger.warning(
                "drain deadline passed: %d background task(s) of %d request(s) cancelled",
                cancelled,
                len(running),
            )
            for t in running:
                t.cancel()
            await asyncio.wait(running)
            return cancelled
        await asyncio.wait(running, timeout=left)
    return 0


# -- streamed responses -------------------------------------------------------------------------


class _StreamEnd:
    """Wraps a streamed response's body so the batch knows when the pump (`_bridge._pump`)
    is done with it: the pump closes what it iterates, whatever ended the stream."""

    __slots__ = ("_done", "_inner", "_it", "started")

    def __init__(
        self, inner: Iterable[bytes | str] | AsyncIterable[bytes | str], done: asyncio.Future[None]
    ) -> None:
        self._inner = inner
        self._it: Iterator[bytes | str] | AsyncIterator[bytes | str] | None = None
        self._done = done
        self.started = False

    def __aiter__(self) -> _StreamEnd:
        self.started = True
        inner = self._inner
        self._it = inner.__aiter__() if isinstance(inner, AsyncIterable) else iter(inner)
        return self

    async def __anext__(self) -> bytes | str:
        it = self._it
        if isinstance(it, AsyncIterator):
            return await it.__anext__()
        try:
            return next(it)  # type: ignore[arg-type]
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Closes the body (as the pump would have), then lets the batch start."""
        try:
            close = getattr(self._inner, "aclose", None)
            if close is not None:
                await close()
            elif hasattr(self._inner, "close"):
                self._inner.close()
        finally:
            if not self._done.done():
                self._done.set_result(None)

    async def ended(self) -> None:
        """Returns once the pump closed the body, or at once when it was never pumped
        (a file the server sends itself, or a response that failed to convert)."""
        if not self.started:
            # The pump's Task was made with the response, before the batch's Task (async
            # endpoints) or just after it (sync ones): one pass of the loop lets it start.
            await asyncio.sleep(0)
        if self.started:
            await self._done


def _track(value: Any, loop: asyncio.AbstractEventLoop) -> _StreamEnd | None:
    """For a streamed response, the wrapper put around its body; None for any other value."""
    body = getattr(value, "body_iterator", None)
    if body is None or getattr(value, "sendfile", None) is not None:
        return None
    stream = _StreamEnd(body, loop.create_future())
    value.body_iterator = stream
    return stream


# -- metrics ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Metrics:
    outcomes: tuple[Any, Any, Any]
    """`covetpy_background_tasks_total{outcome}`: tasks finished; the children of outcome
    `succeeded`, `failed`, `cancelled`, looked up once."""
    in_flight: Any
    """`covetpy_background_tasks_in_flight`: tasks of sent responses whose batch (the tasks
    of one request) has not finished."""


_made: _Metrics | None = None
_no_client = False
_failed = False


def _metrics() -> _Metrics | None:
    """Made on first use, like the event bus's (after `configure_multiprocess`, whatever the
    import order: `covetpy.observability.metrics`); None without `prometheus_client`."""
    global _made, _no_client
    if _made is not None or _no_client:
        return _made
    try:
        from prometheus_client import Counter, Gauge
    except ImportError:
        _no_client = True
        return None
    total = Counter(
        "covetpy_background_tasks_total", "Background tasks run, by outcome.", ["outcome"]
    )
    _made = _Metrics(
        (total.labels("succeeded"), total.labels("failed"), total.labels("cancelled")),
        Gauge(
            "covetpy_background_tasks_in_flight",
            "Background tasks queued or running.",
            multiprocess_mode="livesum",
        ),
    )
    return _made


def _count(record: Callable[[int], Any], n: int) -> None:
    """Records without ever failing the task counted (a metrics directory removed under a
    running worker, say): logged once, the count is lost."""
    global _failed
    try:
        record(n)
    except Exception as exc:
        if not _failed:
            _failed = True
            logger.warning("recording background task metrics failed (logged once): %r", exc)
