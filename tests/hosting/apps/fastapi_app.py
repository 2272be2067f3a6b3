"""A FastAPI app using what services use: pydantic bodies, `Depends`, `BackgroundTasks`,
`UploadFile`, `StreamingResponse`, `FileResponse`, a WebSocket, lifespan state and a custom
exception handler. Served by covetpy and uvicorn in tests/hosting/test_asgi_fastapi.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import (
    BackgroundTasks,
    Depends,
    FastAPI,
    Form,
    Header,
    HTTPException,
    Request,
    Response,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

# What BackgroundTasks did, read back at /background-log.
BACKGROUND: list[str] = []
FILE = os.path.join(tempfile.gettempdir(), f"covetpy-fastapi-{os.getpid()}.txt")


class Teapot(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    with open(FILE, "w") as f:
        f.write("file contents\n" * 1000)
    # A fixed mtime: the ETag and Last-Modified are then the same under both servers.
    os.utime(FILE, (1_700_000_000, 1_700_000_000))
    yield {"greeting": "hello from lifespan"}
    os.unlink(FILE)


app = FastAPI(lifespan=lifespan, title="fastapi-under-test")


@app.exception_handler(Teapot)
async def teapot_handler(request: Request, exc: Teapot) -> JSONResponse:
    return JSONResponse({"teapot": exc.name}, status_code=418, headers={"x-handled": "teapot"})


def pagination(offset: int = 0, limit: int = 10) -> dict[str, int]:
    return {"offset": offset, "limit": limit}


def token(x_token: Annotated[str | None, Header()] = None) -> str:
    if x_token != "secret":
        raise HTTPException(401, "bad token", headers={"www-authenticate": "Token"})
    return x_token


@app.get("/")
async def root() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/plain", response_class=Response)
def plain() -> Response:
    return Response(b"plain text", media_type="text/plain")


@app.get("/items/{item_id}")
async def read_item(
    item_id: int, page: Annotated[dict[str, int], Depends(pagination)], q: str | None = None
) -> dict[str, Any]:
    return {"item_id": item_id, "q": q, **page}


@app.post("/items", status_code=201)
async def create_item(item: Item, _: Annotated[str, Depends(token)]) -> dict[str, Any]:
    return {"item": item.model_dump(), "total": item.price * 2}


@app.post("/upload")
async def upload(file: UploadFile, note: Annotated[str, Form()]) -> dict[str, Any]:
    data = await file.read()
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": note,
    }


@app.post("/background")
async def background(tasks: BackgroundTasks, word: str = "done") -> dict[str, str]:
    tasks.add_task(BACKGROUND.append, word)
    return {"queued": word}


@app.get("/background-log")
async def background_log() -> list[str]:
    return BACKGROUND


@app.get("/stream")
def stream(n: int = 5) -> StreamingResponse:
    def lines() -> Iterator[bytes]:
        for i in range(n):
            yield f"line {i}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain", headers={"x-stream": "yes"})


@app.get("/forever")
async def forever() -> StreamingResponse:
    async def ticks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick\n" * 1000
                await asyncio.sleep(0)
        finally:
            # Starlette stops iterating once send raises (the client went away).
            BACKGROUND.append("forever-closed")

    return StreamingResponse(ticks(), media_type="text/plain")


@app.get("/file")
async def file() -> FileResponse:
    return FileResponse(FILE, media_type="text/plain", filename="data.txt")


@app.get("/state")
async def state(request: Request) -> dict[str, str]:
    return {"greeting": request.state.greeting}


@app.get("/cookie")
async def cookie(response: Response) -> dict[str, bool]:
    response.set_cookie("session", "abc", httponly=True)
    response.set_cookie("theme", "dark")
    response.headers["x-custom"] = "custom value"
    return {"ok": True}


@app.get("/teapot")
async def teapot() -> None:
    raise Teapot("earl grey")


@app.get("/missing")
async def missing() -> None:
    raise HTTPException(404, "no such thing", headers={"x-reason": "missing"})


@app.get("/crash")
async def crash() -> None:
    raise RuntimeError("unhandled")


@app.get("/redirect")
async def redirect() -> RedirectResponse:
    return RedirectResponse("/items/1?q=moved")


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    greeting = websocket.state.greeting
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"echo": data, "greeting": greeting})
    except WebSocketDisconnect:
        BACKGROUND.append("ws-disconnect")
