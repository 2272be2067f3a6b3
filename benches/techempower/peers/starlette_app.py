"""The TechEmpower test types on Starlette (served by peregrine, PyPI peregrine-server, with
uvloop): plain `Route`s, the query read from `request.query_params`, JSON rendered with orjson
by a `JSONResponse` subclass (Starlette's documented way to change the renderer), the pool
created and closed by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from benches.techempower.peers import common

pool: Any = None


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def json(request: Request) -> Response:
    return OrjsonResponse({"message": common.HELLO})


async def db(request: Request) -> Response:
    return OrjsonResponse(await common.single_query(pool))


async def queries(request: Request) -> Response:
    count = common.clamp(request.query_params.get("queries"))
    return OrjsonResponse(await common.multiple_queries(pool, count))


async def fortunes(request: Request) -> Response:
    return HTMLResponse(await common.fortunes(pool))


async def updates(request: Request) -> Response:
    count = common.clamp(request.query_params.get("queries"))
    return OrjsonResponse(await common.updates(pool, count))


async def cached_queries(request: Request) -> Response:
    count = common.clamp(request.query_params.get("count"))
    return OrjsonResponse(common.cached_queries(count))


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(common.HELLO)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await common.create_pool()
    await common.fill_cache(pool)
    yield
    await pool.close()


app = Starlette(
    routes=[
        Route("/json", json),
        Route("/db", db),
        Route("/queries", queries),
        Route("/fortunes", fortunes),
        Route("/updates", updates),
        Route("/cached-queries", cached_queries),
        Route("/plaintext", plaintext),
    ],
    lifespan=lifespan,
)
