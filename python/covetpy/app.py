"""The application: routes (it is a `Router` with no prefix), lifecycle hooks, exception
handlers and dependency overrides; builds the one route table Rust receives."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import traceback
import types
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from covetpy import _bridge
from covetpy.exceptions import ConfigError, HTTPException, RequestValidationError, RouteError
from covetpy.middleware.builtin import (
    NativeMiddleware,
    PythonKeyRateLimit,
    RateLimit,
    RequestId,
)
from covetpy.middleware.pipeline import compile_chain, name_of
from covetpy.observability.middleware import bind_route
from covetpy.params.resolve import Resolver
from covetpy.plugins import Plugins
from covetpy.requests import Request
from covetpy.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
)
from covetpy.routing.route import Route, compile_route
from covetpy.routing.router import RouteDecl, Router

if TYPE_CHECKING:
    from covetpy.config import ServerConfig
    from covetpy.events import EventBus
    from covetpy.grpc import GrpcHost

__all__ = ["App"]

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[[], Any]
ExceptionHandler = Callable[[Request, Any], Any]
logger = logging.getLogger("covetpy")


class App(Router):
    """A CovetPy application.

    ```python
    app = App(title="shop", version="1.0")

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict:
        return {"id": user_id}
    ```
    """

    def __init__(
        self,
        *,
        title: str = "CovetPy",
        version: str = "0.1.0",
        description: str | None = None,
        debug: bool = False,
        dependencies: Sequence[Any] = (),
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        thread_pool_size: int = 32,
        middleware: Sequence[Any] = (),
        plugins: Sequence[Any] = (),
        discover_plugins: bool = False,
        events: str | EventBus | None = None,
        service: str | None = None,
        mesh: bool = False,
    ) -> None:
        self._compiled: list[Route] | None = None
        super().__init__(dependencies=dependencies)
        self.title = title
        self.version = version
        self.description = description
        self.debug = debug
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.thread_pool_size = thread_pool_size
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._exception_handlers: dict[type[BaseException], ExceptionHandler] = {}
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._executor: ThreadPoolExecutor | None = None
        self._resolver = Resolver(self.dependency_overrides, self._get_executor)
        self.plugins = Plugins(list(plugins), discover_plugins)
        self._native: list[NativeMiddleware] = []
        for mw in middleware:
            self.add_middleware(mw)
        self._events_config = (events, service or _slug(title))
        self._events: EventBus | None = None
        self.commands: dict[str, Callable[[list[str]], Any]] = {}
        self.readiness_checks: dict[str, tuple[Callable[[], Any], float]] = {}
        self.mesh = mesh
        self._instrumented = False
        self._traced_from_env = False
        self._grpc: GrpcHost | None = None

    @property
    def events(self) -> EventBus:
        """The app's event bus (`covetpy.events.EventBus`), made on first use: the `events`
        argument (a bus or a URL), else `$COVETPY_EVENTS_URL`, else `memory://`; its service
        name is the `service` argument, else the title in lower case."""
        if self._events is None:
            self._events = _event_bus(*self._events_config)
        return self._events

    @property
    def grpc(self) -> GrpcHost:
        """The gRPC server co-hosted with this app (`covetpy.grpc.GrpcHost`), made on first use;
        it starts with the app when it has servicers and follows its readiness and drain."""
        if self._grpc is None:
            from covetpy.grpc import GrpcHost

            self._grpc = GrpcHost()
        return self._grpc

    def readiness_check(
        self, fn: F | None = None, *, name: str | None = None, timeout: float = 2.0
    ) -> Any:
        """Registers a readiness check (sync or async, no arguments): it passes unless it
        raises, returns False or takes longer than `timeout`. `/readyz` fails while any check
        fails; checks run every `readiness_interval` seconds, never on the probe's path.
        Liveness (`/livez`) never runs them."""

        def register(check: F) -> F:
            key: str = name or getattr(check, "__name__", None) or repr(check)
            if key in self.readiness_checks:
                raise ConfigError(f"a readiness check named {key!r} is already registered")
            self.readiness_checks[key] = (check, timeout)
            return check

        return register if fn is None else register(fn)

    async def check_readiness(self) -> tuple[bool, str]:
        """Runs every readiness check concurrently; (all passed, what failed)."""
        if not self.readiness_checks:
            return True, ""
        names = list(self.readiness_checks)
        results = await asyncio.gather(
            *(_run_check(*self.readiness_checks[n]) for n in names), return_exceptions=False
        )
        failed = [f"{n}: {why}" for n, why in zip(names, results, strict=True) if why]
        return not failed, "; ".join(failed)

    async def wait_for_sidecar(self, config: ServerConfig) -> None:
        """Waits for the sidecar named by `config.wait_for_sidecar`, if any."""
        if config.wait_for_sidecar:
            from covetpy.mesh.sidecar import wait_for_sidecar

            await wait_for_sidecar(config.wait_for_sidecar, config.sidecar_timeout)

    def instrument(self, config: ServerConfig) -> None:
        """Called by the worker before it builds the route table: turns tracing on when the
        `OTEL_*` variables ask for it and puts the tracing middleware (which also sets the
        call context) around every route; with `App(mesh=True)` and tracing off, the context
        middleware alone, so outbound calls, gRPC calls and events carry the request's id,
        trace and deadline. Either adds the built-in RequestId unless the app has it. None of
        this is there otherwise: routes keep the fast path."""
        from covetpy.observability import tracing
        from covetpy.observability.middleware import MeshContextMiddleware, TracingMiddleware

        if self._instrumented:
            if self._traced_from_env and not tracing.enabled():
                # The previous run of this app turned tracing off at its shutdown: this run
                # turns it on again, or it would record no span.
                tracing.setup(self._events_config[1])
            return
        placed = (MeshContextMiddleware, TracingMiddleware)
        if any(isinstance(m, placed) for r in self.routes for m in self.route_middleware(r)):
            self._instrumented = True  # the app placed its own: theirs decide
            return
        first: Any = None
        if not tracing.enabled():
            self._traced_from_env = tracing.setup(self._events_config[1])
        if tracing.enabled():
            first = TracingMiddleware(b3=config.b3)
        elif self.mesh:
            first = MeshContextMiddleware(b3=config.b3)
        if first is not None:
            if not any(isinstance(m, RequestId) for m in self._native):
                # x-request-id accepted or made (in Rust) for every request, so logs,
                # outbound calls and events always have one.
                self._native.append(RequestId())
            # Outermost of the Python middleware (the built-in Rust ones run before it).
            self._middleware.insert(0, first)
            self._instrumented = True
            self._changed()

    def serve_metrics(self, path: str, directory: str) -> None:
        """Adds the Prometheus endpoint at `path`: every worker's request metrics (summed from
        the files in `directory`) and the Python-side metrics. Not in the OpenAPI document."""
        from covetpy.observability.metrics import CONTENT_TYPE, render

        where = Path(directory)

        def metrics() -> Response:
            return Response(render(where), media_type=CONTENT_TYPE)

        self.add_route(path, metrics, name="metrics", include_in_schema=False)

    def set_serving(self, serving: bool) -> None:
        """Mirrors readiness into the gRPC health service."""
        if self._grpc is not None and self._grpc.services:
            self._grpc.set_serving(serving)

    def _changed(self) -> None:
        self._compiled = None

    def _router_middleware(self) -> tuple[Any, ...]:
        # The app's middleware wraps every route, the docs included: applied in route_table.
        return ()

    def add_middleware(self, middleware: Any, **options: Any) -> None:
        """Adds a middleware around every route: a function `mw(request, call_next)`, an object
        with such a `__call__`, or a class (instantiated here with `options`)."""
        if isinstance(middleware, type):
            middleware = middleware(**options)
        elif options:
            raise TypeError(f"options given for {middleware!r}, which is not a class")
        if isinstance(middleware, NativeMiddleware):
            if isinstance(middleware, RateLimit) and middleware.in_python:
                # Keyed by a Python function: the check runs in Python (buckets in Rust).
                middleware = PythonKeyRateLimit(middleware)
            elif self._middleware:
                raise RouteError(
                    f"{type(middleware).__name__} runs in Rust, outside every Python middleware, "
                    f"but is added after {name_of(self._middleware[-1])}: add the built-in "
                    "middleware first, so the order written is the order they run in"
                )
            else:
                self._native.append(middleware)
                self._changed()
                return
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, not {type(middleware).__name__}")
        self._middleware.append(middleware)
        self._changed()

    @property
    def native_middleware(self) -> list[NativeMiddleware]:
        """The built-in middleware that run in Rust, outermost first."""
        return list(self._native)

    def middleware(self, fn: F) -> F:
        """Registers `async def mw(request, call_next) -> Response` (or a sync one around sync
        handlers) around every route; the first registered is outermost."""
        self.add_middleware(fn)
        return fn

    def command(self, name: str) -> Callable[[F], F]:
        """Registers `fn(args: list[str]) -> int | None` as `covetpy exec module:app NAME ...`
        (plugins add their own commands this way)."""

        def decorator(fn: F) -> F:
            if name in self.commands:
                raise ConfigError(f"a command named {name!r} is already registered")
            self.commands[name] = fn
            return fn

        return decorator

    def route_middleware(self, route: Route) -> list[Any]:
        """The chain around `route`, outermost first: the app's, its routers', its own."""
        return [*self._middleware, *route.middleware]

    # -- routes -----------------------------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """The compiled routes in registration order (plus the OpenAPI/docs routes)."""
        self.plugins.set_up(self)
        if self._compiled is None:
            decls = self.declarations
            if self.openapi_url:
                from covetpy.openapi import docs_routes

                decls = decls + docs_routes(self)
            self._compiled = [
                compile_route(
                    d.path,
                    d.methods,
                    d.handler,
                    name=d.name,
                    status_code=d.status_code,
                    response_class=d.response_class,
                    tags=d.tags,
                    dependencies=d.dependencies,
                    sync_to_thread=d.sync_to_thread,
                    include_in_schema=d.include_in_schema,
                    summary=d.summary,
                    description=d.description,
                )
                for d in decls
            ]
            for route, d in zip(self._compiled, decls, strict=True):
                route.fixed = d.extra.get("fixed")
                route.timeout = d.timeout
                route.middleware = tuple(d.middleware)
        return list(self._compiled)

    def add_static(
        self,
        path: str,
        body: bytes | str,
        *,
        media_type: str = "text/plain",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Serves a response fixed at start-up on GET (and HEAD) `path`, answered by the Rust
        IO threads without calling Python (a health page, a robots.txt, a cached document).
        The path may not have parameters."""
        if "{" in path:
            raise RouteError(f"static route {path}: a fixed response cannot have path parameters")
        response = Response(body, status_code, headers, media_type)

        def static_response() -> Response:
            return response

        static_response.__name__ = name or f"static {path}"
        self._decls.append(
            RouteDecl(
                path,
                ("GET",),
                static_response,
                name=name,
                include_in_schema=include_in_schema,
                extra={"fixed": response},
            )
        )
        self._changed()

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called `name`, with `params` filled in (percent-encoded)."""
        for route in self.routes:
            if route.name == name:
                missing = set(route.path_names) - set(params)
                extra = set(params) - set(route.path_names)
                if missing or extra:
                    raise RouteError(
                        f"url_for({name!r}): expected parameters {sorted(route.path_names)}, "
                        f"got {sorted(params)}"
                    )
                path = route.path
                for pname, conv in _path_params(path):
                    value = str(params[pname])
                    safe = "/" if conv == "path" else ""
                    token = "{" + pname + (f":{conv}" if conv else "") + "}"
                    path = path.replace(token, urllib.parse.quote(value, safe=safe))
                return path
        raise RouteError(f"url_for: no route named {name!r}")

    def route_table(self) -> list[Any]:
        """What the Rust core receives: objects with `methods`, `path`, `endpoint`, `plan`."""
        table = []
        guarded = bool(self._exception_handlers)
        on_error = self._handle_exception if guarded else None
        async_errors = any(
            inspect.iscoroutinefunction(h) for h in self._exception_handlers.values()
        )
        for route in self.routes:
            if route.fixed is not None:
                table.append(
                    _RouteDef(route.methods, route.rust_path, route.handler, [], route.fixed)
                )
                continue
            chain = self.route_middleware(route)
            fast = None if guarded or _needs_prepare(route) else route.fast_plan()
            if fast is not None and not chain:
                table.append(
                    _RouteDef(
                        route.methods, route.rust_path, route.handler, fast, None, route.timeout
                    )
                )
                continue
            if fast is not None:
                # Inside a chain, a handler that needs no parameter resolution is still
                # called directly, as the fast path would.
                endpoint = _direct(route.handler, fast, route.path_names)
                endpoint_async = inspect.iscoroutinefunction(route.handler)
            else:
                force_async = async_errors or any(
                    inspect.iscoroutinefunction(o) or inspect.isasyncgenfunction(o)
                    for o in self.dependency_overrides.values()
                )
                endpoint, endpoint_async = self._resolver.build_endpoint(
                    route.plan,
                    route.path_names,
                    _finalizer(route),
                    on_error,
                    force_async,
                )
            if chain:
                label = f"{'|'.join(route.methods)} {route.path}"
                if self._instrumented:
                    # Tracing and context middleware learn their route's template here.
                    chain = bind_route(chain, route.path, endpoint_async)
                endpoint, _ = compile_chain(
                    chain, endpoint, endpoint_async, self.render_exception, label
                )
            plan: list[tuple[str, str | None]] = [("request", None)]
            plan += [("path", n) for n in route.path_names]
            table.append(
                _RouteDef(route.methods, route.rust_path, endpoint, plan, None, route.timeout)
            )
        return table

    # -- errors -----------------------------------------------------------------------------

    def exception_handler(self, exc_class: type[BaseException]) -> Callable[[F], F]:
        """Registers `handler(request, exc) -> Response` (sync or async) for `exc_class` and
        its subclasses."""

        def decorator(fn: F) -> F:
            self._exception_handlers[exc_class] = fn
            self._changed()
            return fn

        return decorator

    def _handle_exception(self, request: Request, exc: Exception) -> Any:
        for cls in type(exc).__mro__:
            handler = self._exception_handlers.get(cls)
            if handler is not None:
                return handler(request, exc)
        raise exc

    def render_exception(self, exc: BaseException) -> Response:
        """The response for an exception no handler took: problem+json; 500s are logged, and
        show the traceback only when `debug=True`."""
        if isinstance(exc, RequestValidationError):
            return _bridge.problem(
                422,
                exc.title,
                exc.detail,
                exc.headers,
                errors=[{"location": e.location, "reason": e.reason} for e in exc.errors],
            )
        if isinstance(exc, HTTPException):
            return _bridge.problem(exc.status_code, exc.title, exc.detail, exc.headers)
        logger.error("unhandled exception in a handler", exc_info=exc)
        detail = "internal server error"
        if self.debug:
            detail = "".join(traceback.format_exception(exc))
        return _bridge.problem(500, "Internal Server Error", detail)

    def runtime(self) -> Any:
        """The callables Rust uses for this app (see rust/bridge/runtime.rs)."""
        names = (
            "json_encode",
            "json_decode",
            "Response",
            "start",
            "pump_stream",
            "cancel",
            "is_disconnected",
        )
        ns = {n: getattr(_bridge, n) for n in names}
        return types.SimpleNamespace(
            **ns,
            native_middleware=[m.spec() for m in self._native],
            UUID=_bridge.UUID,
            bad_request=_bridge.bad_request,
            render_exception=self.render_exception,
        )

    def _get_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.thread_pool_size, thread_name_prefix="covetpy-sync"
            )
        return self._executor

    # -- lifecycle --------------------------------------------------------------------------

    def on_startup(self, fn: F) -> F:
        """Runs `fn` (sync or async) in each worker before it accepts connections."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Runs `fn` (sync or async) in each worker after it has drained."""
        self._shutdown.append(fn)
        return fn

    async def startup(self) -> None:
        """Runs the plugins' `on_startup` (in dependency order), then the start-up hooks, then
        starts the `app.events` subscriptions."""
        self.plugins.set_up(self)
        if self._events is not None:
            # Before any hook runs: a second run while another one still serves (a test
            # client left open) fails here, with BusInUse, and leaves the first untouched.
            self._events.claim()
        await self.plugins.run("on_startup")
        for hook in self._startup:
            await _call(hook)
        if self._events is not None:
            await self._events.start()
        if self._grpc is not None and self._grpc.services:
            # NOT_SERVING until the worker is ready (the lifecycle sets it, with /readyz).
            self._grpc.set_serving(False)
            port = await self._grpc.start()
            logger.info("gRPC serving %s on port %d", ", ".join(self._grpc.services), port)

    async def ready(self) -> None:
        """Runs the plugins' `on_ready`: the worker serves now."""
        await self.plugins.run("on_ready")

    async def drain(self, grace: float = 30.0) -> None:
        """The worker has stopped accepting and is finishing: stops the gRPC server within
        `grace` seconds while the plugins' `on_drain` run and the event consumers drain."""
        work = [self._drain_plugins_and_events()]
        if self._grpc is not None and self._grpc.services:
            work.append(self._grpc.stop(grace))
        results = await asyncio.gather(*work, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _drain_plugins_and_events(self) -> None:
        await self.plugins.run("on_drain", reverse=True)
        await self.drain_events()

    async def drain_events(self) -> None:
        """Stops the event subscriptions fetching and waits for their handlers to finish and
        ack (`app.events.drain_timeout`); publishing still works."""
        if self._events is not None:
            await self._events.drain()

    async def shutdown(self) -> None:
        """Drains and closes `app.events`, then runs the shutdown hooks in reverse order; a
        failing hook does not stop the others."""
        errors: list[Exception] = []
        try:  # stopped by the drain already, unless that was cut short (then: now, at once)
            if self._grpc is not None and self._grpc.running:
                await self._grpc.stop(0)
        except Exception as exc:
            errors.append(exc)
        try:  # before the hooks: handlers may use what they close
            if self._events is not None:
                await self._events.close()
        except Exception as exc:
            errors.append(exc)
        for hook in reversed(self._shutdown):
            try:
                await _call(hook)
            except Exception as exc:
                errors.append(exc)
        try:
            await self.plugins.run("on_shutdown", reverse=True)
        except Exception as exc:
            errors.append(exc)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        try:  # last: spans of the shutdown hooks above are flushed too
            from covetpy.observability import tracing

            tracing.shutdown(5.0)
        except Exception as exc:
            errors.append(exc)
        if errors:
            raise ExceptionGroup("shutdown hooks failed", errors) if len(errors) > 1 else errors[0]


def _slug(title: str) -> str:
    """The default service name of an app: its title in lower case, runs of other
    characters than letters and digits turned into one `-`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "covetpy"


def _event_bus(events: str | EventBus | None, service: str) -> EventBus:
    """`app.events`: the bus given, or one on the URL given, else on `$COVETPY_EVENTS_URL`,
    else in memory. Imported here: an app that never touches its bus does not load it."""
    from covetpy.events import EventBus

    if isinstance(events, EventBus):
        return events
    url = events or os.environ.get("COVETPY_EVENTS_URL") or "memory://"
    return EventBus(url, service=service)


def _path_params(path: str) -> list[tuple[str, str | None]]:
    from covetpy.routing.route import split_path

    return split_path(path)


def _needs_prepare(route: Route) -> bool:
    """Whether the route's responses need the request to be finished (files: ranges, 304)."""
    from covetpy.routing.route import return_annotation

    ann = return_annotation(route.handler)
    target = route.response_class or ann
    return isinstance(target, type) and hasattr(target, "prepare")


def _direct(
    handler: Callable[..., Any], fast: list[tuple[str, str | None]], path_names: list[str]
) -> Callable[..., Any]:
    """`endpoint(request, *path_values)` calling `handler` with the arguments of its fast plan
    (the Request and path values in the handler's order)."""
    picks = [-1 if kind == "request" else path_names.index(str(name)) for kind, name in fast]
    if not picks:
        return lambda request, *values: handler()
    if picks == list(range(len(path_names))):
        return lambda request, *values: handler(*values)
    return lambda request, *values: handler(*[request if i < 0 else values[i] for i in picks])


def _finalizer(route: Route) -> Callable[[Any, Request], Any]:
    status = route.status_code
    cls = route.response_class

    def finalize(value: Any, request: Request) -> Any:
        if isinstance(value, Response):
            prepare = getattr(value, "prepare", None)
            return prepare(request) if prepare is not None else value
        if status is None and cls is None:
            return value
        if cls is not None:
            response = cls(value, status_code=status or 200)
        elif isinstance(value, str):
            response = PlainTextResponse(value, status_code=status or 200)
        elif value is None or isinstance(value, bytes):
            response = Response(value, status_code=status or 200)
        else:
            response = JSONResponse(value, status_code=status or 200)
        prepare = getattr(response, "prepare", None)
        return prepare(request) if prepare is not None else response

    return finalize


class _RouteDef:
    __slots__ = ("endpoint", "fixed", "methods", "path", "plan", "timeout")

    def __init__(
        self,
        methods: Sequence[str],
        path: str,
        endpoint: Callable[..., Any],
        plan: list[tuple[str, str | None]],
        fixed: Response | None = None,
        timeout: float | None = None,
    ) -> None:
        self.methods = list(methods)
        self.path = path
        self.endpoint = endpoint
        self.plan = plan
        self.fixed = fixed
        self.timeout = timeout


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


async def _run_check(check: Callable[[], Any], timeout: float) -> str:
    """'' if `check` passed, else why not."""
    try:
        async with asyncio.timeout(timeout):
            if inspect.iscoroutinefunction(check):
                ok = await check()
            else:  # off the event loop: a blocking check must not stall requests
                ok = await asyncio.to_thread(check)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "returned False" if ok is False else ""
