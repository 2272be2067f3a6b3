"""Fixtures: a `GrpcHost` serving the Echo service (echo.proto) in an event loop of its own
thread (uvloop, as in a worker), and a grpcio client channel to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
import pytest
import uvloop

from covetpy.grpc import GrpcHost, call_options, client_interceptors, protos
from covetpy.mesh import context

echo_pb2, echo_pb2_grpc = protos.load(Path(__file__).with_name("echo.proto"))

ECHO = "covetpy.tests.echo.Echo"
T = TypeVar("T")


def reply(text: str) -> Any:
    """A Reply saying what the handler sees in `covetpy.mesh.context`."""
    call = context.current.get()
    left = context.remaining()
    return echo_pb2.Reply(
        text=text,
        request_id=(call and call.request_id) or "",
        traceparent=(call and call.traceparent) or "",
        tracestate=(call and call.tracestate) or "",
        remaining=-1.0 if left is None else left,
    )


class Echo(echo_pb2_grpc.EchoServicer):  # type: ignore[misc]
    """The Echo service; `started` is set when a Say call begins (for the stop tests)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.target = ""

    async def Say(self, request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        self.started.set()
        if request.sleep:
            await asyncio.sleep(request.sleep)
        if request.fail:
            raise RuntimeError("the handler failed")
        if request.abort:
            await ctx.abort(grpc.StatusCode(_code(request.abort)), "aborted")
        return reply(request.text)

    async def Count(self, request: Any, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        for i in range(request.n):
            if request.interval:
                await asyncio.sleep(request.interval)
            yield reply(str(i))

    async def Tick(self, request: Any, ctx: grpc.aio.ServicerContext) -> None:
        for i in range(request.n):
            await ctx.write(reply(str(i)))

    async def Chat(self, requests: Any, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            yield reply(request.text)

    async def Relay(self, request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        if request.sleep:
            await asyncio.sleep(request.sleep)
        say = echo_pb2.SayRequest(text="relayed")
        if request.text == "interceptors":
            async with grpc.aio.insecure_channel(
                self.target, interceptors=client_interceptors()
            ) as channel:
                return await echo_pb2_grpc.EchoStub(channel).Say(say)
        async with grpc.aio.insecure_channel(self.target) as channel:
            return await echo_pb2_grpc.EchoStub(channel).Say(say, **call_options())


def _code(number: int) -> tuple[int, str]:
    return next(c.value for c in grpc.StatusCode if c.value[0] == number)


class LoopThread:
    """An event loop (uvloop, as a worker's) running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Runs `coro` in the loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Served:
    """A running GrpcHost with the Echo service, and a client channel to it."""

    def __init__(self, loop: LoopThread, host: GrpcHost, echo: Echo) -> None:
        self.loop = loop
        self.host = host
        self.echo = echo
        self.target = f"127.0.0.1:{host.port}"
        self.channel = grpc.insecure_channel(self.target)
        self.stub = echo_pb2_grpc.EchoStub(self.channel)

    def stop(self, grace: float | None) -> None:
        self.loop.run(self.host.stop(grace))


class Serve(Protocol):
    def __call__(self, host: GrpcHost | None = None) -> Served: ...


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts a GrpcHost (default: on a free port) serving Echo; stopped at the end."""
    loop = LoopThread()
    served: list[Served] = []

    def start(host: GrpcHost | None = None) -> Served:
        host = host or GrpcHost(port=0)
        echo = Echo()
        host.add_servicer(echo_pb2_grpc.add_EchoServicer_to_server, echo)
        loop.run(host.start())
        echo.target = f"127.0.0.1:{host.port}"
        served.append(Served(loop, host, echo))
        return served[-1]

    try:
        yield start
    finally:
        for s in served:
            s.channel.close()
            loop.run(s.host.stop(None))
        loop.close()


@pytest.fixture
def served(serve: Serve) -> Served:
    """A GrpcHost with the defaults (health, reflection) on a free port."""
    return serve()
