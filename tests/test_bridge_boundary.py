"""The typed Python -> Rust boundary (issue 14): the server config, each route-table entry and
the runtime cross as frozen dataclasses; Rust reads every field it needs and refuses a missing
or ill-typed one with a `ConfigError` that names it, never a default."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import pytest

from covetpy import App, ConfigError
from covetpy._bridge import RouteEntry, Runtime
from covetpy._core import Server
from covetpy.config import ServerConfig
from covetpy.middleware.builtin import CORS

# The ServerConfig fields only Python reads (the supervisor, the lifecycle, the worker).
PYTHON_ONLY = {
    "tasks",
    "task_queues",
    "task_concurrency",
    "pre_stop_delay",
    "shutdown_deadline",
    "readiness_interval",
    "wait_for_sidecar",
    "sidecar_timeout",
    "metrics",
    "metrics_path",
    "admin_port",
    "max_requests",
    "max_requests_jitter",
    "max_worker_memory",
    "standby",
    "interface",
    "wsgi_threads",
    "audit_log",
}
RUST_READS = sorted(f.name for f in dataclasses.fields(ServerConfig) if f.name not in PYTHON_ONLY)


def make_app() -> App:
    app = App(openapi_url=None)
    app.add_middleware(CORS())

    @app.get("/items/{item_id:int}", timeout=5)
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


def without(obj: Any, name: str, **changes: Any) -> Any:
    """`obj`'s fields as a namespace, `name` left out and `changes` applied."""
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    fields.pop(name, None)
    return types.SimpleNamespace(**{**fields, **changes})


def test_what_crosses_is_typed() -> None:
    app = make_app()
    table = app.route_table()
    assert [type(e) for e in table] == [RouteEntry]
    assert table[0].timeout == 5
    assert table[0].plan == (("path", "item_id"),)
    runtime = app.runtime()
    assert isinstance(runtime, Runtime)
    assert runtime.native_middleware[0]["kind"] == "cors"
    with pytest.raises(dataclasses.FrozenInstanceError):
        table[0].timeout = 1.0  # type: ignore[misc]
    Server(ServerConfig(), table, runtime)


@pytest.mark.parametrize("name", RUST_READS)
def test_a_missing_config_field_is_named(name: str) -> None:
    app = make_app()
    with pytest.raises(ConfigError, match=f"^ServerConfig: field `{name}` missing$"):
        Server(without(ServerConfig(), name), app.route_table(), app.runtime())


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("port", "80", "field `port` must be int 0-65535, got str"),
        ("max_headers", True, "field `max_headers` must be int >= 1, got bool True"),
        ("header_timeout", "5", "field `header_timeout` must be float, got str"),
        ("fd", 1.5, "field `fd` must be int or None, got float 1.5"),
        ("access_log", 1, "field `access_log` must be bool, got int 1"),
    ],
)
def test_an_ill_typed_config_field_is_named_by_rust(name: str, value: Any, message: str) -> None:
    app = make_app()
    config = without(ServerConfig(), "", **{name: value})
    with pytest.raises(ConfigError, match=f"^ServerConfig: {message}$"):
        Server(config, app.route_table(), app.runtime())


def test_an_ill_typed_config_field_is_refused_when_made() -> None:
    with pytest.raises(ConfigError, match=r"^ServerConfig: field `port` must be int, got str$"):
        ServerConfig(port="8000")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="field `uds` must be str or None, got int"):
        ServerConfig(uds=3)  # type: ignore[arg-type]
    assert ServerConfig(header_timeout=2).header_timeout == 2  # an int is a float here


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RouteEntry)])
def test_a_missing_route_field_is_named(name: str) -> None:
    """Before: a route without `timeout` silently got the server's request timeout."""
    app = make_app()
    table: list[Any] = list(app.route_table())
    table.append(without(table[0], name))
    with pytest.raises(ConfigError, match=f"^route table entry 1: field `{name}` missing$"):
        Server(ServerConfig(), table, app.runtime())


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("timeout", "5", "field `timeout` must be float or None, got str"),
        ("methods", "GET", "field `methods` must be a tuple of str, got str"),
        ("endpoint", None, "field `endpoint` must be callable, got NoneType"),
        ("plan", (("path",),), r"field `plan` must be a tuple of \(str, str or None\)"),
        ("fixed", b"ok", "field `fixed` must be Response or None, got bytes"),
    ],
)
def test_an_ill_typed_route_field_is_named(name: str, value: Any, message: str) -> None:
    app = make_app()
    table = [dataclasses.replace(e, **{name: value}) for e in app.route_table()]
    with pytest.raises(ConfigError, match=f"^route table entry 0: {message}"):
        Server(ServerConfig(), table, app.runtime())


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Runtime)])
def test_a_missing_runtime_field_is_named(name: str) -> None:
    """Before: a runtime without `native_middleware` silently ran no built-in middleware."""
    app = make_app()
    runtime = without(app.runtime(), name)
    with pytest.raises(ConfigError, match=f"^runtime: field `{name}` missing$"):
        Server(ServerConfig(), app.route_table(), runtime)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("render_exception", None, "field `render_exception` must be callable, got NoneType"),
        ("native_middleware", {}, "field `native_middleware` must be a tuple of dicts, got dict"),
        (
            "native_middleware",
            ([],),
            "field `native_middleware` must be a tuple of dicts, got list",
        ),
    ],
)
def test_an_ill_typed_runtime_field_is_named(name: str, value: Any, message: str) -> None:
    app = make_app()
    runtime = dataclasses.replace(app.runtime(), **{name: value})
    with pytest.raises(ConfigError, match=f"^runtime: {message}"):
        Server(ServerConfig(), app.route_table(), runtime)


def test_a_middleware_spec_field_is_required() -> None:
    """Before: a SecurityHeaders spec without `hsts_include_subdomains` defaulted to False."""
    from covetpy.middleware.builtin import SecurityHeaders

    app = App(openapi_url=None)
    spec = SecurityHeaders(hsts_seconds=60).spec()
    del spec["hsts_include_subdomains"]
    runtime = dataclasses.replace(app.runtime(), native_middleware=(spec,))
    with pytest.raises(ConfigError, match="field `hsts_include_subdomains` missing"):
        Server(ServerConfig(), app.route_table(), runtime)
