"""Every scenario of the side-by-side suite on FastAPI (served by uvicorn with httptools and
uvloop): async handlers (sync ones would go through a thread pool), the POST body validated
into a pydantic model, `app_mw` with five pure-ASGI pass-through middlewares, `app_gzip` with
FastAPI's GZipMiddleware (level 5, as CovetPy's). The upload is read with `request.stream()`."""

import asyncio

from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import PlainTextResponse

from benches.peers.asgi_passthrough import PassThrough
from benches.peers.item_pydantic import Item
from benches.peers.payloads import BIG, GZIP_LEVEL, JSON_10K


def build(middleware: int = 0, gzip: bool = False) -> FastAPI:
    """The app, with `middleware` pass-through layers (and gzip with `gzip`)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if gzip:
        app.add_middleware(GZipMiddleware, compresslevel=GZIP_LEVEL)
    for _ in range(middleware):
        app.add_middleware(PassThrough)

    @app.get("/plaintext", response_class=PlainTextResponse)
    async def plaintext() -> str:
        return "Hello, World!"

    @app.get("/json")
    async def json() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{user_id}")
    async def user(user_id: int, fields: str = "") -> dict[str, object]:
        return {"id": user_id, "fields": fields.split(",") if fields else []}

    @app.post("/items")
    async def create(item: Item) -> dict[str, object]:
        return {"name": item.name, "tags": len(item.tags)}

    @app.get("/sleep", response_class=PlainTextResponse)
    async def sleep() -> str:
        await asyncio.sleep(0.001)
        return "Hello, World!"

    @app.get("/json10k")
    async def json10k() -> dict[str, object]:
        return {"items": JSON_10K}

    @app.get("/big", response_class=PlainTextResponse)
    async def big() -> PlainTextResponse:
        return PlainTextResponse(BIG)

    @app.post("/upload", response_class=PlainTextResponse)
    async def upload(request: Request) -> str:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return str(size)

    return app


app = build()
app_mw = build(middleware=5)
app_gzip = build(gzip=True)
