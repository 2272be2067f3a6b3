"""CovetPy serving every scenario of the side-by-side suite (benches/suite/scenarios.py).

Sync handlers where nothing awaits (CovetPy's fast path: called inline on the worker's
Python thread), async only for the handler that sleeps. `app_mw` is the same app under five
pass-through middlewares, sync like socketify.py's (the fastest idiomatic setup: a sync chain
around a sync handler runs in one call, no coroutine).
"""

import asyncio

from benches.peers.item import Item
from covetpy import App, Request, Response
from covetpy.middleware import CallNext


def passthrough(request: Request, call_next: CallNext) -> Response:
    response: Response = call_next(request)
    return response


async def apassthrough(request: Request, call_next: CallNext) -> Response:
    response: Response = await call_next(request)
    return response


def build(middleware: int = 0) -> App:
    """The app, each route under `middleware` pass-through middlewares: sync ones around the
    sync handlers, async ones around the async handler (a sync middleware cannot wait for
    async code)."""
    app = App(openapi_url=None)
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


app = build()
app_mw = build(middleware=5)
