"""A hosted app's requests get server spans like native routes': `{method} {prefix}`, under
the trace the caller sent, with the status the client got (5xx marked failed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from covetpy import App
from covetpy.mesh import context as mesh
from covetpy.testing import TestClient
from tests.observability.spans import TRACE, TRACEPARENT, only

seen: dict[str, Any] = {}


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    current = mesh.current.get()
    seen[scope["path"]] = current.traceparent if current is not None else None
    status = 503 if scope["path"].endswith("/fail") else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi"})


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"wsgi"]


def test_mounted_requests_are_server_spans(spans: InMemorySpanExporter) -> None:
    app = App(openapi_url=None)
    app.mount("/", asgi)
    app.mount("/legacy", wsgi)
    with TestClient(app) as client:
        assert client.get("/a", headers={"traceparent": TRACEPARENT}).text == "asgi"
        assert client.get("/b/fail").status_code == 503
        assert client.post("/legacy/x", headers={"traceparent": TRACEPARENT}).status_code == 201
    root = [s for s in spans.get_finished_spans() if s.name == "GET /"]
    ok = next(s for s in root if s.attributes and s.attributes["url.path"] == "/a")
    assert ok.attributes is not None
    assert ok.attributes["http.route"] == "/"
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.context is not None and f"{ok.context.trace_id:032x}" == TRACE
    # The app runs under the span's call context: an outbound call would carry this span.
    assert seen["/a"] is not None and TRACE in seen["/a"]
    failed = next(s for s in root if s.attributes and s.attributes["url.path"] == "/b/fail")
    assert failed.status.status_code == StatusCode.ERROR
    legacy = only(spans, "POST /legacy")
    assert legacy.attributes is not None
    assert legacy.attributes["http.response.status_code"] == 201
    assert legacy.context is not None and f"{legacy.context.trace_id:032x}" == TRACE
