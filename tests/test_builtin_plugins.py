"""Built-in features attach as plugins (issue 14): the event bus goes through the public
plugin hooks, and the plugin manager reads only the public side of `App`."""

from __future__ import annotations

import ast
import asyncio
import inspect
from typing import Any

import pytest

from covetpy import App
from covetpy.events import EventBus
from covetpy.plugins import manager


def test_the_plugin_manager_reads_no_private_attribute_of_the_app() -> None:
    """Before: it read `app._middleware`, `_exception_handlers`, `_startup`, `_shutdown`."""
    tree = ast.parse(inspect.getsource(manager))
    private = [
        f"line {node.lineno}: app.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "app"
        and node.attr.startswith("_")
    ]
    assert private == []


def test_what_a_plugin_added_is_reported_from_the_public_registrations() -> None:
    class Audit:
        name = "audit"

        def on_app_init(self, app: App) -> None:
            app.get("/audit")(lambda: "ok")
            app.on_startup(lambda: None)

            @app.events.subscribe("orders.*")
            async def seen(event: dict[str, Any]) -> None: ...

    app = App(plugins=[Audit()], openapi_url=None)
    app.plugins.set_up(app)
    assert [type(p).__name__ for p in app.plugins.ordered] == ["Audit"]
    added = app.plugins.added["audit"]
    assert added.routes == ["GET /audit"]
    assert added.startup_hooks == 1
    assert len(added.subscriptions) == 1


def test_the_bus_starts_after_every_start_up_hook_and_closes_before_every_shutdown_hook() -> None:
    """The order `App` wired by hand before the bus became a plugin, kept: hooks registered
    by the app and by its plugins see the subscriptions stopped on both sides."""
    seen: list[tuple[str, bool]] = []

    class Db:
        name = "db"

        def on_app_init(self, app: App) -> None:
            app.on_startup(lambda: seen.append(("plugin up", running())))
            app.on_shutdown(lambda: seen.append(("plugin down", running())))

    app = App(plugins=[Db()], openapi_url=None, events="memory://")

    @app.events.subscribe("a.b")
    async def handler(event: int) -> None: ...

    def running() -> bool:
        return app.events.subscriptions[0].running

    app.on_startup(lambda: seen.append(("app up", running())))
    app.on_shutdown(lambda: seen.append(("app down", running())))

    async def run() -> bool:
        await app.startup()
        started = running()
        await app.drain()
        await app.shutdown()
        return started

    assert asyncio.run(run()) is True
    assert seen == [
        ("app up", False),
        ("plugin up", False),
        ("plugin down", False),
        ("app down", False),
    ]


def test_an_app_that_never_uses_its_bus_does_not_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: setting up any plugin made the bus (the manager read `app.events`)."""
    made: list[EventBus] = []
    init = EventBus.__init__

    def counting(self: EventBus, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(EventBus, "__init__", counting)

    class Nothing:
        name = "nothing"

    app = App(plugins=[Nothing()], openapi_url=None)

    async def run() -> None:
        await app.startup()
        await app.drain()
        await app.shutdown()

    asyncio.run(run())
    assert made == []
    assert len(app.events.subscriptions) == 0  # made now, on first use
    assert len(made) == 1


def test_on_drain_may_take_the_grace_and_a_plugin_may_drain_alongside_the_others() -> None:
    """What `app.grpc` needs as a plugin: its stop gets the drain's grace and runs alongside
    the other plugins' `on_drain` (which run one after the other), as it did by hand."""
    got: list[float] = []
    alone_started = asyncio.Event()  # bound to the loop that first waits on it

    class Waits:
        name = "waits"

        async def on_drain(self) -> None:
            await alone_started.wait()  # in turn, it would wait for ever

    class Alone:
        name = "alone"
        drain_alone = True

        async def on_drain(self, grace: float) -> None:
            got.append(grace)
            alone_started.set()

    app = App(plugins=[Alone(), Waits()], openapi_url=None)

    async def run() -> None:
        await app.startup()
        await asyncio.wait_for(app.drain(grace=3.5), 30)
        await app.shutdown()

    asyncio.run(run())
    assert got == [3.5]
    assert [p.name for p in app.plugins.builtin] == ["covetpy.events", "covetpy.grpc"]
