"""WebSocket routes: `@app.websocket(path)` handlers get a `WebSocket`; `ws.subscribe(topic)`
and `app.broadcast(topic, data)` fan messages out in Rust (`covetpy.websocket.channels`
carries them across workers and hosts).

Python middleware (`app.middleware`, `add_middleware` with a function) do not run for
WebSocket routes: they are written around one request and one response, which a socket is
not. The built-in middleware, which run in Rust, apply to the upgrade request (trusted hosts,
rate limits, request ids).
"""

from covetpy.websocket.socket import WebSocket, WebSocketDisconnect

__all__ = ["WebSocket", "WebSocketDisconnect"]
