"""The WebSocket scenarios on CovetPy:

- `/echo`: every text message is sent back.
- `/broadcast`: every socket subscribes to the topic "all"; a message from any socket is
  broadcast to the topic with `app.broadcast`, one Python call per message: the fan-out to
  the subscribers (the sender included) happens in Rust.
- `GET /plaintext`: "Hello, World!".
"""

from covetpy import App, WebSocket

app = App(openapi_url=None)


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        await ws.send_text(message)


@app.websocket("/broadcast")
async def broadcast(ws: WebSocket) -> None:
    await ws.accept()
    ws.subscribe("all")
    async for message in ws.iter_text():
        await app.broadcast("all", message)
