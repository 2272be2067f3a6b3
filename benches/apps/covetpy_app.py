"""CovetPy serving every scenario of the side-by-side suite (benches/suite/scenarios.py).

Sync handlers where nothing awaits (CovetPy's fast path: called inline on the worker's
Python thread), async only for the handler that sleeps. `app_mw` is the same app under five
pass-through middlewares, async like the peers' (`async def mw(request, call_next)`).
"""

import asyncio

from benches.peers.item import Item
from covetpy import App, Request, Response
from covetpy.middleware import CallNext


def build(middleware: int = 0) -> App:
    """The app, with `middleware` pass-through middlewares."""
    app = App(openapi_url=None)

    async def passthrough(request: Request, call_next: CallNext) -> Response:
        response: Response = await call_next(request)
        return response

    for _ in range(middleware):
        app.add_middleware(passthrough)
    add_routes(app)
    return app


def add_routes(app: App) -> None:
    """The routes of every scenario."""

    @app.get("/plaintext")
    def plaintext() -> str:
        return "Hello, World!"

    @app.get("/json")
    def json() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{user_id:int}")
    def user(user_id: int, fields: str = "") -> dict[str, object]:
        return {"id": user_id, "fields": fields.split(",") if fields else []}

    @app.post("/items")
    def create(item: Item) -> dict[str, object]:
        return {"name": item.name, "tags": len(item.tags)}

    @app.get("/sleep")
    async def sleep() -> str:
        await asyncio.sleep(0.001)
        return "Hello, World!"


app = build()
app_mw = build(middleware=5)
