"""The app of the WebSocket API tests: one route per behaviour under test. `GET /log` shows
what the dependencies recorded (the server runs in another process). `$WS_TEST_CHANNELS`
sets `App(channels=...)` (broadcasts between `covetpy run` instances)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import msgspec

from covetpy import (
    App,
    Cookie,
    Depends,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    WebSocket,
)

app = App(title="ws-test", channels=os.environ.get("WS_TEST_CHANNELS"))
log: list[str] = []


class Chat(msgspec.Struct):
    user: str
    text: str


@app.get("/log")
def show_log() -> list[str]:
    return log


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text)


@app.websocket("/echo-bytes")
async def echo_bytes(ws: WebSocket) -> None:
    await ws.accept()
    async for data in ws.iter_bytes():
        await ws.send_bytes(data[::-1])


@app.websocket("/chat")
async def chat(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_json(type=Chat):
        await ws.send_json({"user": message.user, "length": len(message.text)})


@app.websocket("/refuse")
async def refuse(ws: WebSocket) -> None:
    return None


@app.websocket("/close-first")
async def close_first(ws: WebSocket) -> None:
    await ws.close()


@app.websocket("/teapot")
async def teapot(ws: WebSocket) -> Response:
    return Response("no sockets here", status_code=418)


def require_token(token: str | None = Header(None, alias="x-token")) -> str:
    if token != "secret":
        raise HTTPException(401, "a valid x-token is required")
    return token


@app.websocket("/private")
async def private(ws: WebSocket, token: str = Depends(require_token)) -> None:
    await ws.accept()
    await ws.send_text(f"welcome {token}")


async def resource(ws: WebSocket, tag: str) -> AsyncIterator[str]:
    log.append(f"enter {tag}")
    yield f"resource {tag}"
    log.append(f"teardown {tag} closed={ws.closed}")


def sync_resource(request: Request, tag: str) -> Iterator[str]:
    log.append(f"sync enter {tag} {request.path}")
    yield "sync"
    log.append(f"sync teardown {tag}")


@app.websocket("/teardown/{tag}")
async def teardown(
    ws: WebSocket,
    tag: str,
    res: str = Depends(resource),
    other: str = Depends(sync_resource),
) -> None:
    await ws.accept()
    await ws.send_text(f"{res} {other}")
    await ws.receive_text()  # until the client says it is done
    log.append(f"handler {tag} done")


@app.websocket("/params/{room}/{n:int}")
async def params(
    ws: WebSocket,
    room: str,
    n: int,
    limit: int = Query(10),
    agent: str | None = Header(None, alias="x-agent"),
    session: str | None = Cookie(None),
) -> None:
    await ws.accept()
    await ws.send_json(
        {
            "room": room,
            "n": n,
            "limit": limit,
            "agent": agent,
            "session": session,
            "path_params": ws.path_params,
            "query": dict(ws.query_params.items()),
            "cookies": ws.cookies,
            "path": ws.path,
            "url": ws.url,
            "client": ws.client is not None,
        }
    )


@app.websocket("/proto")
async def proto(ws: WebSocket) -> None:
    chosen = "v2.chat" if "v2.chat" in ws.subprotocols else None
    await ws.accept(subprotocol=chosen, headers={"x-accepted": "yes"})
    await ws.send_json({"offered": list(ws.subprotocols), "chosen": chosen})


@app.websocket("/close/{code:int}")
async def close_with(ws: WebSocket, code: int) -> None:
    await ws.accept()
    await ws.close(code, "bye")


@app.websocket("/boom")
async def boom(ws: WebSocket) -> None:
    await ws.accept()
    raise RuntimeError("boom in a WebSocket handler")


@app.websocket("/state")
async def with_state(ws: WebSocket) -> None:
    await ws.accept()
    ws.state.count = 0
    async for _ in ws.iter_text():
        ws.state.count += 1
        await ws.send_text(str(ws.state.count))


@app.websocket("/room/{name}")
async def room(ws: WebSocket, name: str) -> None:
    await ws.accept()
    ws.subscribe(f"room:{name}")
    await ws.send_text("joined")
    async for text in ws.iter_text():
        if text == "leave":
            ws.unsubscribe(f"room:{name}")
            await ws.send_text("left")
            continue
        await app.broadcast(f"room:{name}", {"from": name, "text": text})
