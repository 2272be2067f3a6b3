"""The application: routes (it is a `Router` with no prefix), lifecycle hooks, exception
handlers and dependency overrides; builds the one route table Rust receives."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import re
import traceback
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from covetpy import _bridge
from covetpy._bridge import RouteEntry
from covetpy.auth.layers import AuthLayer
from covetpy.auth.runtime import AuthRuntime, policy_of, route_requirements
from covetpy.exceptions import ConfigError, HTTPException, RequestValidationError, RouteError
from covetpy.middleware.builtin import NativeMiddleware, PythonKeyRateLimit, RateLimit
from covetpy.middleware.pipeline import name_of
from covetpy.params.resolve import Resolver
from covetpy.plugins import Plugins, Registrations
from covetpy.plugins.builtins import EventsPlugin, GrpcPlugin, MeshPlugin, ObservabilityPlugin
from covetpy.requests import Request
from covetpy.responses import Response
from covetpy.routing.compile import compile_route, route_table
from covetpy.routing.options import RouteOptions
from covetpy.routing.route import Route
from covetpy.routing.router import RouteDecl, Router
from covetpy.settings.runtime import AppSettings
from covetpy.tasks.plugin import TasksPlugin

if TYPE_CHECKING:
    from covetpy._core import Server
    from covetpy.config import ServerConfig
    from covetpy.events import EventBus
    from covetpy.grpc import GrpcHost
    from covetpy.hosting import Mounted
    from covetpy.settings import Settings
    from covetpy.tasks import Tasks
    from covetpy.websocket.channels import Channels

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
        channels: str | None = None,
        role_permissions: Mapping[str, Sequence[str]] | None = None,
        security_schemes: Sequence[Any] = (),
        tasks: str | Tasks | None = None,
        settings: type[Settings] | None = None,
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
        # `App(settings=Config)`: loaded once; `Depends(Config)` resolves to the same instance.
        self._settings = AppSettings(settings)
        self._resolver.settings_of = self._settings.get
        self.service = service or _slug(title)
        """The service name (events, tracing): `service`, else the title in lower case."""
        self._events = EventsPlugin(events, self.service)
        self._grpc = GrpcPlugin()
        self._tasks = TasksPlugin(tasks, self._get_executor)
        # Observability first: its on_shutdown (flushing the spans) runs after every other.
        builtin = [ObservabilityPlugin(), MeshPlugin(), self._events, self._grpc, self._tasks]
        self.plugins = Plugins(list(plugins), discover_plugins, builtin=builtin)
        self._native: list[NativeMiddleware] = []
        self._auth = AuthRuntime(role_permissions)
        self.security_schemes = tuple(security_schemes)
        """Security schemes documented in OpenAPI besides the layers' (`covetpy.auth.OAuth2`)."""
        for mw in middleware:
            self.add_middleware(mw)
        self.commands: dict[str, Callable[[list[str]], Any]] = {}
        self.readiness_checks: dict[str, tuple[Callable[[], Any], float]] = {}
        self.mesh = mesh
        """`App(mesh=True)`: every request sets the call context (`covetpy.plugins.builtins`)."""
        self.channels_url = channels
        """`App(channels=url)`: where broadcasts travel between workers and hosts
        (`covetpy.websocket.channels`); None: each worker's sockets only."""
        self._server: Server | None = None
        self._channels: Channels | None = None
        self._wake_scheduled = False
        self.mounts: list[Mounted] = []
        """The hosted ASGI/WSGI apps (`mount`), in declaration order."""

    @property
    def events(self) -> EventBus:
        """The app's event bus (`covetpy.events.EventBus`), made on first use: the `events`
        argument (a bus or a URL), else `$COVETPY_EVENTS_URL`, else `memory://`; its service
        name is the `service` argument, else the title in lower case."""
        return self._events.get()

    @property
    def tasks(self) -> Tasks:
        """The app's durable tasks (`covetpy.tasks.Tasks`), made on first use: on the broker
        of the `tasks` argument (a URL or a `Tasks`), else `$COVETPY_TASKS_URL`, else
        `memory://`."""
        return self._tasks.get()

    def task(self, fn: Any = None, /, **options: Any) -> Any:
        """Registers a durable task: `@app.task(retries=5, queue="emails")`; see
        `covetpy.tasks.Tasks.task`."""
        return self.tasks.task(fn, **options) if fn is not None else self.tasks.task(**options)

    def periodic(self, fn: Any = None, /, **options: Any) -> Any:
        """Registers a task run at each tick of `cron=` or `every=` seconds, once per tick
        across replicas; see `covetpy.tasks.Tasks.periodic`."""
        return self.tasks.periodic(fn, **options)

    @property
    def settings(self) -> Any:
        """The loaded instance of `App(settings=...)` (covetpy.settings), loaded on first use
        unless `covetpy run` loaded it at start-up."""
        return self._settings.get()

    @property
    def grpc(self) -> GrpcHost:
        """The gRPC server co-hosted with this app (`covetpy.grpc.GrpcHost`), made on first use;
        it starts with the app when it has servicers and follows its readiness and drain."""
        return self._grpc.get()

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

    def prepare(self, config: ServerConfig) -> None:
        """Called by the worker with the run's config, before it builds the route table: runs
        the plugins' `on_serve(app, config)` (the app's, then the built-in ones': tracing and
        the call context, the metrics endpoint, the sidecar wait)."""
        self.plugins.serve(self, config)
        self._auth.audit_all = bool(getattr(config, "audit_log", False))

    def set_serving(self, serving: bool) -> None:
        """Mirrors readiness into the gRPC health service."""
        self._grpc.set_serving(serving)

    def _changed(self) -> None:
        self._compiled = None

    def _router_middleware(self) -> tuple[Any, ...]:
        # The app's middleware wraps every route, the docs included: applied in route_table.
        return ()

    def add_middleware(self, middleware: Any, *, outermost: bool = False, **options: Any) -> None:
        """Adds a middleware around every route: a function `mw(request, call_next)`, an object
        with such a `__call__`, or a class (instantiated here with `options`).

        `outermost=True` (a plugin's `on_serve` wrapping the whole app) puts a Python
        middleware around every one added so far, and accepts a built-in one after Python
        ones (it runs in Rust, after the other built-in ones, before every Python one)."""
        if isinstance(middleware, type):
            middleware = middleware(**options)
        elif options:
            raise TypeError(f"options given for {middleware!r}, which is not a class")
        if isinstance(middleware, AuthLayer):
            # Authentication runs after routing (the route's policy is known), whatever its
            # place among the other middleware.
            self._auth.add(middleware)
            self._changed()
            return
        if isinstance(middleware, NativeMiddleware):
            if isinstance(middleware, RateLimit) and middleware.in_python:
                # Keyed by a Python function: the check runs in Python (buckets in Rust).
                middleware = PythonKeyRateLimit(middleware)
            elif self._middleware and not outermost:
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
        layer = getattr(middleware, "auth_layer", None)
        if isinstance(layer, AuthLayer):
            # Sessions: the auth gate loads the session before the route's requirements.
            self._auth.add(layer)
        close = getattr(middleware, "aclose", None)
        if close is not None and inspect.iscoroutinefunction(close):
            self.on_shutdown(close)
        self._middleware.insert(0 if outermost else len(self._middleware), middleware)
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

    def registrations(self) -> Registrations:
        """What the app has registered so far (plugins report what each of theirs added)."""
        bus = self._events.bus
        return Registrations(
            routes=tuple(
                f"{'WS' if d.websocket else '|'.join(d.methods)} {d.path}"
                for d in self.declarations
            ),
            middleware=tuple(self._middleware),
            dependencies=len(self.dependencies),
            exception_handlers=tuple(self._exception_handlers),
            commands=tuple(self.commands),
            startup_hooks=len(self._startup),
            shutdown_hooks=len(self._shutdown),
            subscriptions=tuple(str(s) for s in bus.subscriptions) if bus else (),
        )

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
                    d.path, d.methods, d.handler, fixed=d.fixed, websocket=d.websocket, **d.options
                )
                for d in decls
            ]
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
        options = RouteOptions(name=name, include_in_schema=include_in_schema)
        self._decls.append(RouteDecl(path, ("GET",), static_response, options, response))
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

    def mount(
        self,
        prefix: str,
        app: Any,
        *,
        interface: str = "auto",
        wsgi_threads: int = 16,
    ) -> None:
        """Serves an ASGI 3 or WSGI `app` (FastAPI, Starlette, Django, Flask, ...) under
        `prefix` ("/" for everything): a request goes to it when no route of this app takes
        its path and method (routes are matched first, in Rust), with `root_path` (ASGI) or
        `SCRIPT_NAME` (WSGI) set to the prefix. An ASGI app's lifespan runs inside this app's
        start-up and shutdown. `interface` is detected unless given ("asgi" or "wsgi");
        `wsgi_threads` bounds the threads that run a WSGI app's requests."""
        from covetpy.hosting import mounted

        self.mounts.append(mounted(prefix, app, interface, wsgi_threads))
        self._changed()

    def route_table(self) -> list[RouteEntry]:
        """What the Rust core receives: one `RouteEntry` per route, then one per mount."""
        return self._route_table() + [m.entry() for m in self.mounts]

    def _route_table(self) -> list[RouteEntry]:
        table = self._plain_route_table()
        if not self._auth.layers:
            return table
        policies = [route_requirements(r) for r in self.routes]
        self._auth.policies = policies
        return [
            dataclasses.replace(entry, auth=policy_of(*policy))
            for entry, policy in zip(table, policies, strict=True)
        ]

    def _plain_route_table(self) -> list[RouteEntry]:
        handlers = self._exception_handlers
        return route_table(
            self.routes,
            chain_of=self.route_middleware,
            resolver=self._resolver,
            on_error=self._handle_exception if handlers else None,
            force_async=any(
                inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
                for f in (*handlers.values(), *self.dependency_overrides.values())
            ),
            render_exception=self.render_exception,
        )

    # -- WebSocket broadcasts ---------------------------------------------------------------

    def attach_server(self, server: Server | None) -> None:
        """Called by the worker with its Rust server (None once it stopped): the one
        `broadcast` fans out through."""
        self._server = server
        self._auth.serving(server)

    async def broadcast(self, topic: str, data: Any) -> int:
        """Sends `data` (str: a text message, bytes: binary, anything else: JSON text by
        msgspec) to every WebSocket subscribed to `topic` (`ws.subscribe(topic)`): this
        worker's, fanned out in Rust with the frame encoded once, and with
        `App(channels=url)` every other worker's and host's too. Returns how many of this
        worker's sockets it was queued for (0 when the app is not serving)."""
        if not isinstance(data, str | bytes):
            data = _bridge.json_encode(data).decode()
        sent = 0
        server = self._server
        if server is not None:
            # The sockets are written once per event-loop turn, after every broadcast of that
            # turn: a burst of N messages costs each subscriber one write, not N (the suite's
            # ws-broadcast cell: 0.24 -> 0.11 µs of server CPU per delivery, adrs/0014).
            sent = server.broadcast(topic, data, defer=True)
            if not self._wake_scheduled:
                self._wake_scheduled = True
                asyncio.get_running_loop().call_soon(self._wake_broadcasts, server)
        if self._channels is not None:
            await self._channels.publish(topic, data)
        return sent

    def _wake_broadcasts(self, server: Server) -> None:
        self._wake_scheduled = False
        server.wake_broadcasts()

    async def _start_channels(self) -> None:
        server = self._server
        if self.channels_url is None or server is None or self._channels is not None:
            return
        from covetpy.websocket.channels import channels_for

        def deliver(topic: str, data: str | bytes) -> None:
            server.broadcast(topic, data)

        channels = channels_for(self.channels_url)
        await channels.start(deliver)
        self._channels = channels

    async def _close_channels(self) -> None:
        channels, self._channels = self._channels, None
        if channels is not None:
            await channels.close()

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

    def runtime(self) -> _bridge.Runtime:
        """The callables Rust uses for this app (see rust/bridge/runtime.rs)."""
        return _bridge.runtime(
            self.render_exception,
            tuple(m.spec() for m in self._native),
            self._auth.spec(),
            self._auth.gate,
        )

    @property
    def auth_layers(self) -> list[AuthLayer]:
        """The authentication layers, in declaration order."""
        return list(self._auth.layers)

    @property
    def role_permissions(self) -> dict[str, tuple[str, ...]]:
        """Role -> the permissions it grants (`requires(permissions=...)`)."""
        return dict(self._auth.role_permissions)

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
        """Runs the plugins' `on_startup` (the built-in ones first, then the app's in
        dependency order), then the start-up hooks (`app.events` starts its subscriptions and
        `app.grpc` its server in the ones added last). With `App(channels=url)` the channels
        connect before all of them."""
        self.plugins.set_up(self)
        # Channels first: a start-up hook may broadcast, and a broker that cannot be reached
        # fails the start-up rather than the first broadcast.
        await self._start_channels()
        await self._auth.start()
        started: list[Mounted] = []
        try:
            # Mounted apps' lifespans first: this app's hooks may use what they set up.
            for m in self.mounts:
                await m.startup()
                started.append(m)
            await self.plugins.run("on_startup")
            for hook in self._startup:
                await _call(hook)
        except BaseException:
            # No shutdown follows a failed start-up: what did start stops here.
            for m in reversed(started):
                with contextlib.suppress(Exception):
                    await m.shutdown()
            await self._close_channels()
            raise

    async def ready(self) -> None:
        """Runs the plugins' `on_ready`: the worker serves now."""
        await self.plugins.run("on_ready")

    async def drain(self, grace: float = 30.0) -> None:
        """The worker has stopped accepting and is finishing: runs the plugins' `on_drain`
        with `grace` seconds (`app.events` drains its consumers last; `app.grpc` stops
        alongside)."""
        await self.plugins.drain(grace)

    async def drain_events(self) -> None:
        """Stops the event subscriptions fetching and waits for their handlers to finish and
        ack (`app.events.drain_timeout`); publishing still works."""
        await self._events.on_drain()

    async def shutdown(self) -> None:
        """Runs the shutdown hooks in reverse order (`app.grpc` stops, if the drain was cut
        short, and `app.events` closes in the first), then the plugins' `on_shutdown`; a
        failing hook does not stop the others."""
        errors: list[Exception] = []
        for hook in reversed(self._shutdown):
            try:
                await _call(hook)
            except Exception as exc:
                errors.append(exc)
        # Each plugin's, even after one failed: the built-in observability plugin's, last,
        # flushes the spans of the hooks above.
        for m in reversed(self.mounts):
            try:
                await m.shutdown()
            except Exception as exc:
                errors.append(exc)
        errors += await self.plugins.shutdown()
        await self._auth.stop()
        try:
            await self._close_channels()
        except Exception as exc:
            errors.append(exc)
        self._server = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if errors:
            raise ExceptionGroup("shutdown hooks failed", errors) if len(errors) > 1 else errors[0]


def _slug(title: str) -> str:
    """The default service name of an app: its title in lower case, runs of other
    characters than letters and digits turned into one `-`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "covetpy"


def _path_params(path: str) -> list[tuple[str, str | None]]:
    from covetpy.routing.route import split_path

    return split_path(path)


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
