"""One server span per WebSocket connection, from the upgrade to the close."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from covetpy import App, WebSocket
from covetpy.testing import TestClient
from tests.observability.spans import TRACE, TRACEPARENT, only


def test_a_connection_is_one_span_with_its_route_and_close_code(
    spans: InMemorySpanExporter,
) -> None:
    app = App()

    @app.websocket("/rooms/{room:int}")
    async def room(ws: WebSocket, room: int) -> None:
        await ws.accept()
        for _ in range(3):
            await ws.send_text(await ws.receive_text())
        await ws.close(4001, "done")

    with TestClient(app) as client:
        with client.websocket_connect("/rooms/7", headers={"traceparent": TRACEPARENT}) as ws:
            for text in ("a", "b", "c"):
                ws.send_text(text)
                assert ws.receive_text() == text
    span = only(spans, "WS /rooms/{room}")
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/rooms/{room}"
    assert span.attributes["websocket.close_code"] == 4001
    assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE
