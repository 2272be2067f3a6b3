"""Features of CovetPy that attach to an app as plugins, through the hooks any plugin has
(`base.py`). Their `on_app_init` runs after the app's own plugins' (so the hooks they add to
the app come after every hook registered until then), their other hooks before the app's
plugins' (`on_startup`, `on_ready`) or after them (`on_drain`, `on_shutdown`); `covetpy
plugins` does not list them. Each imports its feature on first
use: an app that never touches it does not load it."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covetpy.app import App
    from covetpy.events import EventBus
    from covetpy.grpc import GrpcHost

__all__ = ["EventsPlugin", "GrpcPlugin"]

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
