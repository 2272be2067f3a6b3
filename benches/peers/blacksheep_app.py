"""Every scenario of the side-by-side suite on BlackSheep (served by uvicorn with httptools and
uvloop): route and query values bound from the signature, the POST body bound with
`FromJSON` into a pydantic model, `app_mw` with five `(request, handler)` middlewares,
`app_gzip` with BlackSheep's GzipMiddleware (level 5, its default and CovetPy's). The upload is
read with `request.stream()`."""

import asyncio

from blacksheep import Application, FromJSON, Request, Response, json, text
from blacksheep.server.compression import GzipMiddleware
from blacksheep.server.routing import Router

from benches.peers.item_pydantic import Item
from benches.peers.payloads import BIG, GZIP_LEVEL, JSON_10K


async def passthrough(request: Request, handler: object) -> Response:
    return await handler(request)  # type: ignore[operator, no-any-return]


def build(middleware: int = 0, gzip: bool = False) -> Application:
    """The app, with `middleware` pass-through middlewares (and gzip with `gzip`)."""
    # Its own Router: the default one is module-global and would be shared by both apps.
    app = Application(router=Router())
    app.middlewares.extend([passthrough] * middleware)
    if gzip:
        app.middlewares.append(GzipMiddleware(comp_level=GZIP_LEVEL))
    get, post = app.router.get, app.router.post

    @get("/plaintext")
    async def plaintext() -> Response:
        return text("Hello, World!")

    @get("/json")
    async def json_() -> Response:
        return json({"message": "Hello, World!"})

    @get("/users/{user_id}")
    async def user(user_id: int, fields: str = "") -> Response:
        return json({"id": user_id, "fields": fields.split(",") if fields else []})

    @post("/items")
    async def create(item: FromJSON[Item]) -> Response:
        return json({"name": item.value.name, "tags": len(item.value.tags)})

    @get("/sleep")
    async def sleep() -> Response:
        await asyncio.sleep(0.001)
        return text("Hello, World!")

    @get("/json10k")
    async def json10k() -> Response:
        return json({"items": JSON_10K})

    @get("/big")
    async def big() -> Response:
        return text(BIG.decode())

    @post("/upload")
    async def upload(request: Request) -> Response:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return text(str(size))

    return app


app = build()
app_mw = build(middleware=5)
app_gzip = build(gzip=True)
