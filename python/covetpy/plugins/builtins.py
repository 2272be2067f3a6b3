"""Features of CovetPy that attach to an app as plugins, through the hooks any plugin has
(`base.py`). Their `on_app_init` and `on_serve` run after the app's own plugins' (so the hooks
and middleware they add to the app come after, or around, every one registered until then),
their other hooks before the app's plugins' (`on_startup`, `on_ready`) or after them
(`on_drain`, `on_shutdown`); `covetpy plugins` does not list them. Each imports its feature on
first use: an app that never touches it does not load it."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

# At run time: the metrics endpoint's return annotation is resolved in this module.
from covetpy.responses import Response

if TYPE_CHECKING:
    from covetpy.app import App
    from covetpy.config import ServerConfig
    from covetpy.events import EventBus
    from covetpy.grpc import GrpcHost

__all__ = ["EventsPlugin", "GrpcPlugin", "MeshPlugin", "ObservabilityPlugin"]

logger = logging.getLogger("covetpy")


class EventsPlugin:
    """`app.events`: the bus is made on first use; once made, it is claimed for the serving
    loop before any start-up hook runs (a second run of the app while one serves fails there,
    with `BusInUse`), its subscriptions start after the app's start-up hooks, drain with the
    other plugins, and it closes before the app's shutdown hooks (which may close what the
    handlers use)."""

    name = "covetpy.events"

    def __init__(self, events: str | EventBus | None, service: str) -> None:
        self._events = events
        self._service = service
        self.bus: EventBus | None = None
        """The bus, once made."""

    def get(self) -> EventBus:
        """The bus given, or one on the URL given, else on `$COVETPY_EVENTS_URL`, else in
        memory."""
        if self.bus is None:
            from covetpy.events import EventBus

            if isinstance(self._events, EventBus):
                self.bus = self._events
            else:
                url = self._events or os.environ.get("COVETPY_EVENTS_URL") or "memory://"
                self.bus = EventBus(url, service=self._service)
        return self.bus

    def on_app_init(self, app: App) -> None:
        # As the app's hooks: after the start-up hooks registered before it (the app's and
        # its plugins'), and (shutdown hooks run in reverse) before those shutdown hooks.
        app.on_startup(self._start)
        app.on_shutdown(self._close)

    def on_startup(self) -> None:
        if self.bus is not None:
            self.bus.claim()

    async def _start(self) -> None:
        if self.bus is not None:
            await self.bus.start()

    async def on_drain(self) -> None:
        """Stops the subscriptions fetching and waits for their handlers to finish."""
        if self.bus is not None:
            await self.bus.drain()

    async def _close(self) -> None:
        if self.bus is not None:
            await self.bus.close()


class GrpcPlugin:
    """`app.grpc`: the host is made on first use; with servicers, it starts after the app's
    start-up hooks (NOT_SERVING until the worker is ready), stops within the drain's grace
    alongside the other plugins' `on_drain`, and is stopped at once, if still running, before
    the app's shutdown hooks."""

    name = "covetpy.grpc"
    drain_alone = True

    def __init__(self) -> None:
        self.host: GrpcHost | None = None
        """The host, once made."""

    def get(self) -> GrpcHost:
        """The host, made on first use."""
        if self.host is None:
            from covetpy.grpc import GrpcHost

            self.host = GrpcHost()
        return self.host

    def _serves(self) -> bool:
        return self.host is not None and bool(self.host.services)

    def on_app_init(self, app: App) -> None:
        # After the events' hooks: starts after the bus, stops before it closes.
        app.on_startup(self._start)
        app.on_shutdown(self._stop_now)

    async def _start(self) -> None:
        if self.host is not None and self._serves():
            # NOT_SERVING until the worker is ready (the lifecycle sets it, with /readyz).
            self.host.set_serving(False)
            port = await self.host.start()
            logger.info("gRPC serving %s on port %d", ", ".join(self.host.services), port)

    def set_serving(self, serving: bool) -> None:
        """Mirrors the worker's readiness into the health service."""
        if self.host is not None and self._serves():
            self.host.set_serving(serving)

    async def on_drain(self, grace: float) -> None:
        """Refuses new calls and gives those in flight `grace` seconds."""
        if self.host is not None and self._serves():
            await self.host.stop(grace)

    async def _stop_now(self) -> None:
        # Stopped by the drain already, unless that was cut short (then: now, at once).
        if self.host is not None and self.host.running:
            await self.host.stop(0)


class ObservabilityPlugin:
    """Tracing and the metrics endpoint, from the run's config.

    Tracing turns on when the `OTEL_*` variables ask for it (the SDK is not imported
    otherwise); then `TracingMiddleware` (which also sets the call context) goes around every
    route, outermost, with the built-in `RequestId` unless the app has it. An app that placed
    its own tracing or context middleware keeps it, and no tracing is set up for it. The first
    run decides; a later run of the same app turns tracing on again (each run's shutdown turns
    it off, flushing its spans). With `--metrics` and no admin port, the Prometheus endpoint is
    served at `metrics_path`."""

    name = "covetpy.observability"

    def __init__(self) -> None:
        self._decided = False
        self._from_env = False
        self._metrics_dir = ""
        self._metrics_paths: set[str] = set()

    def on_serve(self, app: App, config: ServerConfig) -> None:
        self._trace(app, config)
        if config.metrics and config.metrics_path and not config.admin_port:
            self._serve_metrics(app, config.metrics_path, config.metrics_dir or "")

    def _trace(self, app: App, config: ServerConfig) -> None:
        from covetpy.observability import tracing

        if self._decided:
            if self._from_env and not tracing.enabled():
                # The previous run of this app turned tracing off at its shutdown: this run
                # turns it on again, or it would record no span.
                tracing.setup(app.service)
            return
        if has_call_context(app):
            self._decided = True  # the app placed its own: theirs decide
            return
        if not tracing.enabled():
            self._from_env = tracing.setup(app.service)
        if tracing.enabled():
            from covetpy.observability.middleware import TracingMiddleware

            wrap(app, TracingMiddleware(b3=config.b3))
            self._decided = True

    def _serve_metrics(self, app: App, path: str, directory: str) -> None:
        """Every worker's request metrics (summed from the files in `directory`, which may
        change from run to run) and the Python-side ones; not in the OpenAPI document."""
        from pathlib import Path

        from covetpy.observability.metrics import CONTENT_TYPE, render

        self._metrics_dir = directory
        if path in self._metrics_paths:
            return
        self._metrics_paths.add(path)

        def metrics() -> Response:
            return Response(render(Path(self._metrics_dir)), media_type=CONTENT_TYPE)

        # Public like the probes: a Prometheus scrape carries no user's token (keep the
        # endpoint off the public network, or behind the mesh's mTLS).
        app.add_route(path, metrics, name="metrics", include_in_schema=False, public=True)

    def on_shutdown(self) -> None:
        """Exports the spans not exported yet and turns tracing off (whoever turned it on)."""
        from covetpy.observability import tracing

        tracing.shutdown(5.0)


class MeshPlugin:
    """`App(mesh=True)`: with tracing off, `MeshContextMiddleware` goes around every route,
    outermost, with the built-in `RequestId` unless the app has it, so outbound calls, gRPC
    calls and events carry the request's id, trace and deadline (with tracing on, the tracing
    middleware does that). `--wait-for-sidecar`: once the worker serves, before any other
    `on_ready` and before readiness is reported, waits for the sidecar."""

    name = "covetpy.mesh"

    def __init__(self) -> None:
        self._sidecar = ""
        self._sidecar_timeout = 0.0

    def on_serve(self, app: App, config: ServerConfig) -> None:
        self._sidecar, self._sidecar_timeout = config.wait_for_sidecar, config.sidecar_timeout
        if app.mesh and not has_call_context(app):
            from covetpy.observability.middleware import MeshContextMiddleware

            wrap(app, MeshContextMiddleware(b3=config.b3))

    async def on_ready(self) -> None:
        if self._sidecar:
            from covetpy.mesh.sidecar import wait_for_sidecar

            await wait_for_sidecar(self._sidecar, self._sidecar_timeout)


def has_call_context(app: App) -> bool:
    """Whether some route's chain sets the call context already (tracing or context
    middleware, the app's own or placed by an earlier run)."""
    from covetpy.observability.middleware import MeshContextMiddleware

    return any(
        isinstance(m, MeshContextMiddleware) for r in app.routes for m in app.route_middleware(r)
    )


def wrap(app: App, middleware: Any) -> None:
    """Puts `middleware` around every route, outermost of the Python middleware, with the
    built-in `RequestId` (x-request-id accepted or made in Rust for every request, so logs,
    outbound calls and events always have one) unless the app has it."""
    from covetpy.middleware.builtin import RequestId

    if not any(isinstance(m, RequestId) for m in app.native_middleware):
        app.add_middleware(RequestId(), outermost=True)
    app.add_middleware(middleware, outermost=True)
