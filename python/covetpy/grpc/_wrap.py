"""Running a gRPC method's async handler inside a context manager, for each of the four call
shapes, so an interceptor sees the servicer context and the call's end (its status, its
exception) whatever the shape.

`grpc.aio.ServerInterceptor` only sees the call's details before a handler is picked; the
servicer context exists once the handler runs. So an interceptor returns a copy of the method
handler whose behaviour is wrapped: `around(context)` is entered before the handler runs, and
yields the context the handler gets (the same one, or a stand-in for it).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any

from covetpy.grpc._grpc import grpc, needed

__all__ = ["Around", "AroundInterceptor", "wrap"]

Around = Callable[[Any], AbstractAsyncContextManager[Any]]
"""`around(servicer_context)`: entered for each call; yields the context the handler gets."""


class AroundInterceptor(abc.ABC):
    """Runs each call of an async handler inside `self.around(service, method)`.

    The wrapped handler is kept per method, so a call costs a dict lookup here, not new
    closures: what a handler lookup returns is the same object for every call of a method.

    A `grpc.aio.ServerInterceptor` (registered as a virtual subclass when the first one is
    made, so this module imports without the grpc extra; grpc only checks `isinstance`).
    """

    def __init__(self) -> None:
        needed()
        grpc.aio.ServerInterceptor.register(AroundInterceptor)
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    @abc.abstractmethod
    def around(self, service: str, method: str) -> Around | None:
        """What to run the calls of `service`/`method` in; None to leave them alone."""

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:  # no such method: grpc answers UNIMPLEMENTED
            return None
        full = details.method
        known = self._wrapped.get(full)
        if known is not None and known[0] is handler:
            return known[1]
        service, _, method = full.lstrip("/").partition("/")  # "/pkg.Service/Method"
        around = self.around(service, method)
        wrapped = handler if around is None else wrap(handler, around)
        self._wrapped[full] = (handler, wrapped)
        return wrapped


def wrap(handler: Any, around: Around) -> Any:
    """A copy of the `grpc.RpcMethodHandler` whose behaviour runs inside `around`; the handler
    itself if its behaviour is not async (grpc runs those on its thread pool)."""
    if handler.request_streaming:
        if handler.response_streaming:
            behavior, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
        else:
            behavior, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        behavior, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
        return handler
    run = _streaming(behavior, around) if handler.response_streaming else _unary(behavior, around)
    return make(
        run,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary(behavior: Callable[[Any, Any], Any], around: Around) -> Callable[[Any, Any], Any]:
    async def run(request: Any, context: Any) -> Any:
        async with around(context) as ctx:
            return await behavior(request, ctx)

    return run


def _streaming(behavior: Callable[[Any, Any], Any], around: Around) -> Callable[[Any, Any], Any]:
    # Always the writer form (`context.write`), which grpc accepts for either style: the
    # handler may be an async generator, or a coroutine writing through the context itself.
    async def run(request: Any, context: Any) -> None:
        async with around(context) as ctx:
            responses = behavior(request, ctx)
            if inspect.isasyncgen(responses):
                async with aclosing(responses):
                    async for message in responses:
                        await ctx.write(message)
            else:
                await responses

    return run
