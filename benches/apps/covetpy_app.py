"""CovetPy serving every scenario of the side-by-side suite (benches/suite/scenarios.py).

Sync handlers where nothing awaits (CovetPy's fast path: called inline on the worker's
Python thread), async only for the handler that sleeps. `app_mw` is the same app under five
pass-through middlewares, sync like socketify.py's (the fastest idiomatic setup: a sync chain
around a sync handler runs in one call, no coroutine). `app_gzip` is the app under the built-in
`Compression` middleware (gzip level 5, its default), for the json-10k-gzip scenario.

The upload handler reads the body with `request.stream()`, CovetPy's documented way to take
a body chunk by chunk. (Measured 2026-12-07: it yields one chunk, the body the server had
already read whole, so each 20 MiB upload held ~40 MB at its peak; upload-20m's peak RSS shows
it until the server streams bodies into handlers.)
"""

import asyncio

from benches.peers.item import Item
from benches.peers.payloads import BIG, JSON_10K
from covetpy import App, Request, Response
from covetpy.middleware import CallNext
from covetpy.middleware.builtin import Compression


def passthrough(request: Request, call_next: CallNext) -> Response:
    response: Response = call_next(request)
    return response


async def apassthrough(request: Request, call_next: CallNext) -> Response:
    response: Response = await call_next(request)
    return response


def build(middleware: int = 0, gzip: bool = False) -> App:
    """The app, each route under `middleware` pass-through middlewares: sync ones around the
    sync handlers, async ones around the async handler (a sync middleware cannot wait for
    async code); with `gzip`, under the Compression middleware."""
    app = App(openapi_url=None, middleware=[Compression()] if gzip else [])
    add_routes(app, [passthrough] * middleware, [apassthrough] * middleware)
    return app


def add_routes(app: App, sync_mw: list[object], async_mw: list[object]) -> None:
    """The routes of every scenario."""

    @app.get("/plaintext", middleware=sync_mw)
    def plaintext() -> str:
        return "Hello, World!"

    @app.get("/json", middleware=sync_mw)
    def json() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{user_id:int}", middleware=sync_mw)
    def user(user_id: int, fields: str = "") -> dict[str, object]:
        return {"id": user_id, "fields": fields.split(",") if fields else []}

    @app.post("/items", middleware=sync_mw)
    def create(item: Item) -> dict[str, object]:
        return {"name": item.name, "tags": len(item.tags)}

    @app.get("/sleep", middleware=async_mw)
    async def sleep() -> str:
        await asyncio.sleep(0.001)
        return "Hello, World!"

    @app.get("/json10k", middleware=sync_mw)
    def json10k() -> dict[str, object]:
        return {"items": JSON_10K}

    @app.get("/big", middleware=sync_mw)
    def big() -> Response:
        return Response(BIG, media_type="text/plain; charset=utf-8")

    @app.post("/upload", middleware=async_mw)
    async def upload(request: Request) -> str:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return str(size)


app = build()
app_mw = build(middleware=5)
app_gzip = build(gzip=True)
