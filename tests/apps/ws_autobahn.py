"""The echo server Autobahn's fuzzing client drives (tests/websocket/test_autobahn.py): every
message back as it came, text as text and binary as binary."""

from covetpy import App, WebSocket

app = App()


@app.websocket("/")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        message = await ws.receive()
        await ws.send(message)
