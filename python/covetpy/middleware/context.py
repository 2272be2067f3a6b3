"""Running a coroutine in a context of its own.

The Rust bridge steps handler coroutines itself (`PyIter_Send`) from the event loop's reader
callback, whose `contextvars.Context` is the same object for every request. A middleware that
sets a ContextVar there would leak the value into later requests, so a chain runs each step of
its coroutine inside a context copied per request: values set by a middleware are seen by the
handler and by inner middleware, and by nothing else.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine, Generator
from typing import Any


class InContext:
    """Awaits `coro`, running every step of it inside `ctx`."""

    __slots__ = ("coro", "ctx")

    def __init__(self, coro: Coroutine[Any, Any, Any], ctx: contextvars.Context) -> None:
        self.coro = coro
        self.ctx = ctx

    def __await__(self) -> Generator[Any, Any, Any]:
        run = self.ctx.run
        send = self.coro.send
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    yielded = run(send, value)
                else:
                    yielded = run(self.coro.throw, error)
            except StopIteration as stop:
                return stop.value
            try:
                value = yield yielded
                error = None
            except BaseException as exc:  # cancellation and anything thrown in go inside
                value = None
                error = exc
