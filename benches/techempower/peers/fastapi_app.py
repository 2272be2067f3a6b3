"""The TechEmpower test types on FastAPI (served by uvicorn with httptools and uvloop). Async
handlers; `queries` arrives as a string (TFB treats a non-number as 1, so it must not be a 422)
and is clamped; rows are returned with a pydantic return type, which FastAPI serialises
straight to JSON bytes with pydantic-core (its documented fast path, replacing
ORJSONResponse); the pool lives for the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from benches.techempower.peers import common

pool: Any = None


class World(BaseModel):
    id: int
    randomNumber: int  # TFB's field name


class Message(BaseModel):
    message: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await common.create_pool()
    await common.fill_cache(pool)
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/json")
async def json() -> Message:
    return Message(message=common.HELLO)


@app.get("/db")
async def db() -> World:
    return World(**await common.single_query(pool))


@app.get("/queries")
async def queries(queries: str | None = None) -> list[World]:
    rows = await common.multiple_queries(pool, common.clamp(queries))
    return [World(**row) for row in rows]


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes() -> HTMLResponse:
    return HTMLResponse(await common.fortunes(pool))


@app.get("/updates")
async def updates(queries: str | None = None) -> list[World]:
    rows = await common.updates(pool, common.clamp(queries))
    return [World(**row) for row in rows]


@app.get("/cached-queries")
async def cached_queries(count: str | None = None) -> list[World]:
    return [World(**row) for row in common.cached_queries(common.clamp(count))]


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse(common.HELLO)
