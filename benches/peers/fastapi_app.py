"""Every scenario of the side-by-side suite on FastAPI (served by uvicorn with httptools and
uvloop): async handlers (sync ones would go through a thread pool), the POST body validated
into a pydantic model, `app_mw` with five pure-ASGI pass-through middlewares."""

import asyncio

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from benches.peers.asgi_passthrough import PassThrough
from benches.peers.item_pydantic import Item


def build(middleware: int = 0) -> FastAPI:
    """The app, with `middleware` pass-through layers."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
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

    return app


app = build()
app_mw = build(middleware=5)
