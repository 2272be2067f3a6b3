"""TracingMiddleware and MeshContextMiddleware: through the real server (covetpy.testing), and
compiled into chains directly with a request carrying the ids the Rust core assigns."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from covetpy import App
from covetpy.exceptions import HTTPException
from covetpy.mesh import context as mesh
from covetpy.middleware.pipeline import compile_chain
from covetpy.observability import tracing
from covetpy.observability.middleware import (
    MeshContextMiddleware,
    TracingMiddleware,
    bind_route,
    route_template,
)
from covetpy.requests import Request
from covetpy.responses import Response
from covetpy.testing import TestClient
from tests.observability.spans import PARENT, TRACE, TRACEPARENT, only, tp

# The trace ids the Rust core assigns each request (request.trace_id, span_id, ...).
rust_trace_ids = pytest.mark.skipif(
    not hasattr(Request, "trace_id"), reason="needs request.trace_id/span_id from the Rust core"
)


def context_json() -> dict[str, Any]:
    call = mesh.current.get()
    assert call is not None
    return {"request_id": call.request_id, "traceparent": call.traceparent}


def traced_app() -> App:
    app = App()

    @app.get("/items/{item_id:int}", middleware=[TracingMiddleware("/items/{item_id:int}")])
    async def item(item_id: int) -> dict[str, Any]:
        return context_json()

    @app.get("/fail", middleware=[TracingMiddleware("/fail")])
    async def fail() -> None:
        raise RuntimeError("boom")

    @app.get("/missing", middleware=[TracingMiddleware("/missing")])
    def missing() -> None:
        raise HTTPException(404)

    return app


# -- through the server -------------------------------------------------------------------------


def test_server_span_of_a_request(spans: InMemorySpanExporter) -> None:
    with TestClient(traced_app()) as client:
        r = client.get(
            "/items/3",
            headers={"traceparent": TRACEPARENT, "x-request-id": "r-7", "user-agent": "t/1"},
        )
    assert r.status_code == 200
    span = only(spans, "GET /items/{item_id}")
    assert span.kind is SpanKind.SERVER
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT
    assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE
    assert span.attributes is not None
    assert dict(span.attributes) | {"client.address": None} == {
        "http.request.method": "GET",
        "http.route": "/items/{item_id}",
        "url.path": "/items/3",
        "url.scheme": "http",
        "server.address": "testserver",
        "network.protocol.version": "1.1",
        "user_agent.original": "t/1",
        "http.response.status_code": 200,
        "client.address": None,  # a Unix socket under the test client
    }
    assert span.status.status_code is StatusCode.UNSET
    # The handler's call context names the server span and keeps the request id.
    assert r.json() == {"request_id": "r-7", "traceparent": tp(span)}


def test_5xx_fails_the_span_and_4xx_does_not(spans: InMemorySpanExporter) -> None:
    with TestClient(traced_app()) as client:
        assert client.get("/fail").status_code == 500
        assert client.get("/missing").status_code == 404
    failed = only(spans, "GET /fail")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "500"
    assert failed.parent is None  # no traceparent: a new trace
    missing = only(spans, "GET /missing")
    assert missing.status.status_code is StatusCode.UNSET
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404


def test_tracing_off_sets_only_the_call_context(clean_env: pytest.MonkeyPatch) -> None:
    with TestClient(traced_app()) as client:
        r = client.get("/items/1", headers={"traceparent": TRACEPARENT, "x-request-id": "r-1"})
    body = r.json()
    assert body["request_id"] == "r-1"
    assert body["traceparent"].split("-")[1] == TRACE


def test_mesh_context_middleware(clean_env: pytest.MonkeyPatch) -> None:
    app = App(middleware=[MeshContextMiddleware()])

    @app.get("/ctx")
    async def ctx() -> dict[str, Any]:
        call = mesh.current.get()
        assert call is not None
        return {**context_json(), "tracestate": call.tracestate, "deadline": call.deadline}

    headers = {"traceparent": TRACEPARENT, "tracestate": "a=1", "x-request-id": "r-2"}
    with TestClient(app) as client:
        before = time.monotonic()
        body = client.get("/ctx", headers={**headers, "x-envoy-expected-rq-timeout-ms": "5000"})
        body = body.json()
    assert body["request_id"] == "r-2"
    assert body["tracestate"] == "a=1"
    version, trace_id, span_id, _ = body["traceparent"].split("-")
    assert (version, trace_id) == ("00", TRACE)
    if hasattr(Request, "traceparent"):  # the server span the core opened, child of the caller's
        assert span_id != PARENT
        assert before < body["deadline"] < time.monotonic() + 5
    else:  # an older core: the caller's span
        assert span_id == PARENT


@rust_trace_ids
def test_server_span_has_the_ids_the_rust_core_assigned(spans: InMemorySpanExporter) -> None:
    app = App()

    @app.get("/ids", middleware=[TracingMiddleware("/ids")])
    async def ids(request: Request) -> dict[str, Any]:
        r: Any = request
        return {"trace_id": r.trace_id, "span_id": r.span_id, "parent": r.parent_span_id}

    with TestClient(app) as client:
        body = client.get("/ids", headers={"traceparent": TRACEPARENT}).json()
        root = client.get("/ids").json()
    assert body["trace_id"] == TRACE and body["parent"] == PARENT
    first, second = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert first.context is not None and second.context is not None
    assert (f"{first.context.trace_id:032x}", f"{first.context.span_id:016x}") == (
        body["trace_id"],
        body["span_id"],
    )
    assert first.parent is not None and f"{first.parent.span_id:016x}" == PARENT
    assert (f"{second.context.trace_id:032x}", f"{second.context.span_id:016x}") == (
        root["trace_id"],
        root["span_id"],
    )
    assert second.parent is None and root["parent"] is None


def test_app_level_tracing_middleware_names_spans_by_route(spans: InMemorySpanExporter) -> None:
    app = App(middleware=[TracingMiddleware()])

    @app.get("/users/{user_id:int}")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    with TestClient(app) as client:
        assert client.get("/users/5").status_code == 200
    assert only(spans, "GET /users/{user_id}").attributes is not None


# -- compiled chains, with the request the Rust core will give ----------------------------------


class RustRequest:
    """A stand-in for the core's Request (rust/bridge/request.rs) with the attributes the
    middleware read, so a test knows the ids in advance."""

    method = "GET"
    path = "/orders/7"
    http_version = "1.1"
    client = ("10.1.2.3", 50000)
    peer = ("127.0.0.1", 40000)
    host = "shop.local:8080"
    scheme = "https"
    sampled = True
    request_id = "r-9"
    trace_id = TRACE
    span_id = "b7ad6b7169203331"
    parent_span_id = PARENT
    traceparent = f"00-{TRACE}-b7ad6b7169203331-01"
    tracestate = "v=1"
    deadline = 1234.5
    headers = {"host": "shop.local", "traceparent": TRACEPARENT}  # noqa: RUF012

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


def render(exc: BaseException) -> Response:
    raise AssertionError(f"unexpected {exc!r}")


def check_rust_span(spans: InMemorySpanExporter, seen: mesh.CallContext | None) -> None:
    span = only(spans, "GET /orders/{order_id}")
    assert span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == TRACE
    assert f"{span.context.span_id:016x}" == "b7ad6b7169203331"
    assert f"{span.parent.span_id:016x}" == PARENT
    assert span.context.trace_state.to_header() == "v=1"
    assert span.attributes is not None
    assert span.attributes["server.address"] == "shop.local"
    assert span.attributes["server.port"] == 8080
    assert span.attributes["client.address"] == "10.1.2.3"
    assert span.attributes["network.peer.address"] == "127.0.0.1"
    assert span.attributes["url.scheme"] == "https"
    # The call context is the request's (id, deadline) under the span Rust logged.
    assert seen == mesh.CallContext(
        request_id="r-9", traceparent=RustRequest.traceparent, tracestate="v=1", deadline=1234.5
    )


def test_sync_chain_stays_sync_and_uses_the_rust_ids(spans: InMemorySpanExporter) -> None:
    seen: list[mesh.CallContext | None] = []

    def outer(request: Any, call_next: Any) -> Any:  # a user's sync middleware
        return call_next(request)

    def endpoint(request: Any, *values: Any) -> dict[str, int]:
        seen.append(mesh.current.get())
        return {"id": values[0]}

    chain = bind_route([outer, TracingMiddleware()], "/orders/{order_id:int}", False)
    entry, is_async = compile_chain(chain, endpoint, False, render, "GET /orders/{order_id}")
    assert not is_async
    response = entry(RustRequest(), 7)
    assert response.status_code == 200
    check_rust_span(spans, seen[0])


def test_async_chain_uses_the_rust_ids(spans: InMemorySpanExporter) -> None:
    seen: list[mesh.CallContext | None] = []

    async def endpoint(request: Any, *values: Any) -> dict[str, int]:
        seen.append(mesh.current.get())
        with tracing.outbound_span("GET"):
            pass
        return {"id": values[0]}

    chain = bind_route([TracingMiddleware()], "/orders/{order_id:int}", True)
    entry, is_async = compile_chain(chain, endpoint, True, render, "GET /orders/{order_id}")
    assert is_async
    response = asyncio.run(entry(RustRequest(), 7))
    assert response.status_code == 200
    check_rust_span(spans, seen[0])
    client = only(spans, "GET")
    assert client.parent is not None and f"{client.parent.span_id:016x}" == "b7ad6b7169203331"


def test_bind_route_forms() -> None:
    async def async_mw(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    def sync_mw(request: Any, call_next: Any) -> Any:
        return call_next(request)

    tracing_mw, mesh_mw = TracingMiddleware(), MeshContextMiddleware()
    assert bind_route([sync_mw], "/a", False) == [sync_mw]
    bound = bind_route([tracing_mw, mesh_mw, async_mw], "/a/{x:int}", False)
    assert isinstance(bound[0], TracingMiddleware) and bound[0].route == "/a/{x}"
    assert bound[1] is mesh_mw and bound[2] is async_mw
    sync_bound = bind_route([tracing_mw, mesh_mw, sync_mw], "/a", False)
    assert not any(inspect.iscoroutinefunction(m.__call__) for m in sync_bound)
    assert inspect.iscoroutinefunction(bind_route([tracing_mw], "/a", True)[0].__call__)


@pytest.mark.parametrize(
    ("path", "template"),
    [("/", "/"), ("/u/{id}", "/u/{id}"), ("/u/{id:int}/f/{p:path}", "/u/{id}/f/{p}")],
)
def test_route_template(path: str, template: str) -> None:
    assert route_template(path) == template
