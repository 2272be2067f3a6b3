"""The WebSocket scenarios as one raw ASGI app, for Granian's ASGI interface and for uvicorn
with its `websockets` implementation (benches/suite/ws.py starts both):

- `/echo`: every message is sent back as it came (text or bytes).
- `/broadcast`: every socket is a subscriber; a message from any of them goes to all of them,
  the sender included (the bench's closed-loop publisher counts on that), by iterating the set
  of open sockets: ASGI has no pub/sub, this is what an ASGI app does.
- `GET /plaintext`: "Hello, World!", to check the server is up and still answers.
"""

from typing import Any

HELLO = b"Hello, World!"
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]

# The `send` callables of the open /broadcast sockets.
_subscribers: set[Any] = set()


async def _broadcast(message: dict[str, Any]) -> None:
    frame = (
        {"type": "websocket.send", "text": message["text"]}
        if message.get("text") is not None
        else {"type": "websocket.send", "bytes": message.get("bytes") or b""}
    )
    for send in list(_subscribers):
        try:
            await send(frame)
        except Exception:  # a socket closing mid-broadcast is not an error: drop it
            _subscribers.discard(send)


async def _websocket(scope: Any, receive: Any, send: Any) -> None:
    path = scope["path"]
    if path not in ("/echo", "/broadcast"):
        await send({"type": "websocket.close", "code": 1008})
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    if path == "/broadcast":
        _subscribers.add(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if path == "/broadcast":
                await _broadcast(message)
            elif message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    finally:
        _subscribers.discard(send)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
    elif scope["type"] == "http":
        status, body = (200, HELLO) if scope["path"] == "/plaintext" else (404, b"Not Found")
        await send({"type": "http.response.start", "status": status, "headers": TEXT})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
