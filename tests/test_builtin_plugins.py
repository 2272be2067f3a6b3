"""Built-in features attach as plugins (issue 14): the event bus, gRPC, observability and the
mesh go through the public plugin hooks (`on_serve` gives them the run's config), and the
plugin manager reads only the public side of `App`."""

from __future__ import annotations

import ast
import asyncio
import inspect
import types
from typing import Any

import pytest

from covetpy import App
from covetpy.config import ServerConfig
from covetpy.events import EventBus
from covetpy.mesh import context as mesh
from covetpy.middleware.builtin import RequestId
from covetpy.plugins import PluginError, builtins, manager
from covetpy.plugins.builtins import MeshPlugin, ObservabilityPlugin
from covetpy.testing import TestClient


def _private_reads_of_app(module: types.ModuleType) -> list[str]:
    """Every `app._name` in a module's source."""
    tree = ast.parse(inspect.getsource(module))
    return [
        f"line {node.lineno}: app.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "app"
        and node.attr.startswith("_")
    ]


def test_the_plugin_manager_reads_no_private_attribute_of_the_app() -> None:
    """Before: it read `app._middleware`, `_exception_handlers`, `_startup`, `_shutdown`."""
    assert _private_reads_of_app(manager) == []


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
    assert [p.name for p in app.plugins.builtin] == [
        "covetpy.observability",
        "covetpy.mesh",
        "covetpy.events",
        "covetpy.grpc",
        "covetpy.tasks",
    ]


def test_observability_and_the_mesh_attach_through_on_serve_and_see_the_users_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: `App.instrument(config)`, `App.serve_metrics` and `App.wait_for_sidecar` were
    called by the worker by hand, and a plugin had no hook that received the run's config."""
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    configs: dict[str, ServerConfig] = {}
    for cls in (ObservabilityPlugin, MeshPlugin):
        original = cls.on_serve

        def recording(self: Any, app: App, config: ServerConfig, _f: Any = original) -> None:
            configs[self.name] = config
            _f(self, app, config)

        monkeypatch.setattr(cls, "on_serve", recording)

    class Sees:
        name = "sees"

        def on_serve(self, app: App, config: ServerConfig) -> None:
            configs[self.name] = config

    app = App(plugins=[Sees()], mesh=True, openapi_url=None)

    @app.get("/context")
    def context() -> dict[str, Any]:
        call = mesh.current.get()
        assert call is not None
        return {"b3": call.b3, "request_id": call.request_id}

    with TestClient(app, config=ServerConfig(b3=True, metrics=True)) as client:
        response = client.get("/context", headers={"x-request-id": "r-1"})
        assert response.json() == {"b3": True, "request_id": "r-1"}  # the config's b3
        assert client.get("/metrics").status_code == 200
    assert set(configs) == {"sees", "covetpy.observability", "covetpy.mesh"}
    assert configs["sees"] is configs["covetpy.observability"] is configs["covetpy.mesh"]
    assert configs["sees"].b3 and configs["sees"].metrics_dir
    for by_hand in ("instrument", "serve_metrics", "wait_for_sidecar"):
        assert not hasattr(App, by_hand), by_hand


def test_the_built_in_plugins_read_no_private_attribute_of_the_app() -> None:
    assert _private_reads_of_app(builtins) == []


def test_on_serve_may_wrap_the_app_and_runs_on_every_run() -> None:
    """`outermost=True` is how a plugin puts its middleware around the app's own (and a
    built-in one after them); `on_serve` runs again for each run of the app."""
    order: list[str] = []
    runs: list[int] = []

    async def inner(request: Any, call_next: Any) -> Any:
        order.append("inner")
        return await call_next(request)

    async def outer(request: Any, call_next: Any) -> Any:
        order.append("outer")
        return await call_next(request)

    class Wraps:
        name = "wraps"

        def on_serve(self, app: App, config: ServerConfig) -> None:
            runs.append(config.max_body_size)
            if len(runs) == 1:
                app.add_middleware(RequestId(), outermost=True)
                app.add_middleware(outer, outermost=True)

    app = App(plugins=[Wraps()], middleware=[inner], openapi_url=None)

    @app.get("/")
    async def index() -> str:
        return "ok"

    for size in (1000, 2000):
        with TestClient(app, config=ServerConfig(max_body_size=size)) as client:
            assert client.get("/").headers["x-request-id"]
    assert runs == [1000, 2000]
    assert order == ["outer", "inner"] * 2


def test_an_async_on_serve_is_refused() -> None:
    class Async:
        name = "async"

        async def on_serve(self, app: App, config: ServerConfig) -> None: ...

    with pytest.raises(PluginError, match="'async': on_serve must not be async"):
        App(plugins=[Async()], openapi_url=None).prepare(ServerConfig())


def test_tracing_is_flushed_last_even_when_a_plugin_fails_to_shut_down() -> None:
    """The observability plugin's `on_shutdown` runs after every other, failing or not, as
    `App.shutdown` did by hand."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from covetpy.observability import tracing

    class Fails:
        name = "fails"

        def on_shutdown(self) -> None:
            assert tracing.enabled()
            raise RuntimeError("pool gone")

    app = App(plugins=[Fails()], openapi_url=None)

    async def run() -> None:
        await app.startup()
        tracing.setup(exporter=InMemorySpanExporter())
        await app.shutdown()

    try:
        with pytest.raises(PluginError, match="pool gone"):
            asyncio.run(run())
        assert not tracing.enabled()
    finally:
        tracing.shutdown(5.0)
