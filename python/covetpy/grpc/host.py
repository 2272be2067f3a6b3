"""`GrpcHost`: a grpcio asyncio server in the worker's event loop, on a port of its own."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from covetpy.exceptions import ConfigError
from covetpy.grpc._grpc import grpc, needed
from covetpy.grpc.health import SERVICE_NAME as HEALTH_SERVICE
from covetpy.grpc.health import Health
from covetpy.grpc.interceptors import ContextInterceptor, MetricsInterceptor
from covetpy.grpc.metrics import rpc_metrics

__all__ = ["GrpcHost", "service_name"]

logger = logging.getLogger("covetpy.grpc")

AddToServer = Callable[[Any, Any], None]
"""A generated `add_FooServicer_to_server(servicer, server)`."""

_REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
_ADD_FUNCTION = re.compile(r"add_(\w+)Servicer_to_server")


class GrpcHost:
    """A gRPC server co-hosted with the HTTP server: it runs in the worker's event loop (handlers
    are `async def`, as HTTP ones are) and listens on its own port.

    ```python
    host = GrpcHost(port=50051)
    host.add_servicer(inventory_pb2_grpc.add_InventoryServicer_to_server, Inventory())
    port = await host.start()       # in the worker, once its loop runs
    host.set_serving(False)         # health: NOT_SERVING (readiness failed, shutting down)
    await host.stop(grace=10)       # NOT_SERVING, then in-flight calls get `grace` seconds
    ```

    Every call goes through `MetricsInterceptor` and `ContextInterceptor` first (request id,
    trace context, deadline, metrics), then through `interceptors`. The standard health service
    (`grpc.health.v1.Health`) and server reflection are served unless turned off.

    Several workers listen on the same port: grpc sets SO_REUSEPORT on its listening socket
    (`("grpc.so_reuseport", 1)`, set here explicitly; Linux then spreads connections over the
    workers). It also means that binding a port another SO_REUSEPORT server of the same user
    holds succeeds instead of failing; pass `options=[("grpc.so_reuseport", 0)]` to get the
    error. `port=0` picks a free port, per worker.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 50051,
        reflection: bool = True,
        health: bool = True,
        interceptors: Sequence[Any] = (),
        options: Sequence[tuple[str, Any]] = (),
        max_concurrent_rpcs: int | None = None,
    ) -> None:
        needed()  # `app.grpc` is where an app turns gRPC on: say what is missing there
        self.host = host
        self.reflection = reflection
        self.health = health
        self.interceptors = tuple(interceptors)
        self.options = tuple(options)
        self.max_concurrent_rpcs = max_concurrent_rpcs
        self._port = port
        self._servicers: list[tuple[AddToServer, Any, str]] = []
        self._serving = True
        self._server: Any = None
        self._health: Health | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (once started: the one bound, when `port=0` was asked);
        settable until the server starts."""
        return self._port

    @port.setter
    def port(self, port: int) -> None:
        if self._server is not None:
            raise RuntimeError("the gRPC server is running: set its port before it starts")
        self._port = port

    @property
    def services(self) -> tuple[str, ...]:
        """The full names of the services added (`package.Service`), in order."""
        return tuple(name for _, _, name in self._servicers)

    @property
    def running(self) -> bool:
        """Whether the server has started and not stopped."""
        return self._server is not None

    def add_servicer(
        self, add_to_server: AddToServer, servicer: Any, *, name: str | None = None
    ) -> None:
        """Serves `servicer` through its generated `add_FooServicer_to_server`. The service's
        full name (for health and reflection) comes from the generated module's descriptor;
        `name` gives it when it cannot be found there."""
        if self._server is not None:
            raise RuntimeError("add servicers before the gRPC server starts")
        name = name or service_name(add_to_server)
        if name is None:
            raise ValueError(
                f"cannot tell the service {getattr(add_to_server, '__name__', add_to_server)!r} "
                "registers: pass its full name (name='package.Service')"
            )
        if name in self.services:
            raise ValueError(f"the service {name!r} is already added")
        self._servicers.append((add_to_server, servicer, name))

    async def start(self) -> int:
        """Binds and starts serving in the running event loop; returns the port. The health
        service answers SERVING unless `set_serving(False)` was called before."""
        if self._server is not None:
            raise RuntimeError("the gRPC server is already running")
        interceptors: list[Any] = []
        metrics = rpc_metrics()
        if metrics is not None:
            interceptors.append(MetricsInterceptor(metrics))
        interceptors.append(ContextInterceptor(skip=(HEALTH_SERVICE, _REFLECTION_SERVICE)))
        server = grpc.aio.server(
            interceptors=(*interceptors, *self.interceptors),
            options=self._options(),
            maximum_concurrent_rpcs=self.max_concurrent_rpcs,
        )
        for add_to_server, servicer, _ in self._servicers:
            add_to_server(servicer, server)
        health = None
        if self.health:
            health = Health(self.services)
            health.add_to(server)
            await health.set_serving(self._serving)  # before the first Check can come
        if self.reflection:
            from grpc_reflection.v1alpha import reflection  # type: ignore[import-untyped]

            names = (*self.services, *((HEALTH_SERVICE,) if health else ()), _REFLECTION_SERVICE)
            reflection.enable_server_reflection(names, server)
        address = _address(self.host, self._port)
        try:
            port: int = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigError(f"gRPC cannot listen on {address}: {exc}") from exc
        await server.start()
        self._server, self._health, self._port = server, health, port
        self._loop = asyncio.get_running_loop()
        return port

    def set_serving(self, serving: bool) -> None:
        """Health of every service and of the server (""): SERVING or NOT_SERVING, as HTTP
        readiness is. Callable from any thread; applied in the server's loop, last call wins.
        Before `start`, sets the status it starts with; ignored once `stop` has begun."""
        self._serving = serving
        health, loop = self._health, self._loop
        if health is None or loop is None or loop.is_closed() or self._stopping is not None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._track(loop.create_task(self._apply(health)))
        else:
            asyncio.run_coroutine_threadsafe(self._apply(health), loop)

    async def _apply(self, health: Health) -> None:
        await health.set_serving(self._serving)

    async def stop(self, grace: float | None) -> None:
        """Stops serving: health NOT_SERVING for good, then new calls are refused and those in
        flight get `grace` seconds (None: cancelled at once) before they are cancelled.

        Returns once the server has stopped. Idempotent: a second call waits for the first
        stop; cancelling a caller does not cancel the stop (the worker's drain may be cut
        short while its shutdown waits again). The host can be started again afterwards.
        """
        if self._stopping is None:
            if self._server is None:
                return
            self._stopping = self._track(asyncio.ensure_future(self._stop(grace)))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float | None) -> None:
        server, health = self._server, self._health
        try:
            if health is not None:
                await health.shut_down()
            await server.stop(grace)
        finally:
            self._server = self._health = self._loop = self._stopping = None

    def _options(self) -> list[tuple[str, Any]]:
        options = list(self.options)
        if not any(key == "grpc.so_reuseport" for key, _ in options):
            options.append(("grpc.so_reuseport", 1))
        return options

    def _track(self, task: asyncio.Future[None]) -> asyncio.Future[None]:
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("gRPC server task failed", exc_info=task.exception())


def service_name(add_to_server: AddToServer) -> str | None:
    """The full name of the service a generated `add_FooServicer_to_server` registers, from
    the descriptor of the `_pb2` module its `_pb2_grpc` module imports; None if not found."""
    match = _ADD_FUNCTION.fullmatch(getattr(add_to_server, "__name__", ""))
    module = sys.modules.get(getattr(add_to_server, "__module__", None) or "")
    if match is None or module is None:
        return None
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            services = getattr(getattr(value, "DESCRIPTOR", None), "services_by_name", {})
            service = services.get(match[1])
            if service is not None:
                return str(service.full_name)
    return None


def _address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 address
        return f"[{host}]:{port}"
    return f"{host}:{port}"
