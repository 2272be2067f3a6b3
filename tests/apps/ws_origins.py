"""`WebSocketOrigins` in front of a plain HTTP route at the WebSocket path, for
tests/test_ws_origins.py: an allow-list app and a same-origin (default) app."""

from __future__ import annotations

from covetpy import App
from covetpy.middleware.builtin import WebSocketOrigins


def _app(allow: list[str] | None) -> App:
    app = App(openapi_url=None, middleware=[WebSocketOrigins(allow)])

    @app.get("/ws")
    def ws() -> str:
        return "plain"

    return app


listed = _app(["https://app.example.com", "http://localhost:8000"])
same = _app(None)
