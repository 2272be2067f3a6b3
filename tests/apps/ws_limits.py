"""WebSocket limits and lifecycle (tests/websocket/test_limits.py): echo, a flood that a slow
reader holds back, and what the last socket saw when it closed."""

from __future__ import annotations

import asyncio

from covetpy import App, WebSocket, WebSocketDisconnect

app = App()
seen: dict[str, object] = {"sent": 0, "closed": None}


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send(await ws.receive())
    except WebSocketDisconnect as e:
        seen["closed"] = e.code
        raise


@app.websocket("/flood/{count:int}")
async def flood(ws: WebSocket, count: int) -> None:
    await ws.accept()
    seen["sent"] = 0
    chunk = b"x" * (256 * 1024)
    for i in range(count):
        await ws.send_bytes(chunk)
        seen["sent"] = i + 1
    await ws.send_text("done")
    await ws.receive()


@app.get("/seen")
def get_seen() -> dict[str, object]:
    return seen


@app.websocket("/deaf")
async def deaf(ws: WebSocket) -> None:
    """Accepts and never receives: its inbox fills and the server stops reading."""
    await ws.accept()
    try:
        await asyncio.Event().wait()
    finally:
        seen["deaf_closed"] = ws.close_code
