"""The TechEmpower test types on BlackSheep (served by uvicorn with httptools and uvloop):
query values bound from the handler's signature (as strings, clamped: TFB treats a
non-number as 1), orjson as BlackSheep's JSON serializer (`json_settings.use`, its documented
way to change it), the pool created and closed by `on_start`/`on_stop`."""

from __future__ import annotations

from typing import Any

import orjson
from blacksheep import Application, Response, html, json, text
from blacksheep.settings.json import json_settings

from benches.techempower.peers import common

json_settings.use(loads=orjson.loads, dumps=lambda value: orjson.dumps(value).decode())

app = Application()
get = app.router.get
pool: Any = None


async def start(application: Application) -> None:
    global pool
    pool = await common.create_pool()
    await common.fill_cache(pool)


async def stop(application: Application) -> None:
    await pool.close()


app.on_start += start
app.on_stop += stop


@get("/json")
async def json_() -> Response:
    return json({"message": common.HELLO})


@get("/db")
async def db() -> Response:
    return json(await common.single_query(pool))


@get("/queries")
async def queries(queries: str | None = None) -> Response:
    return json(await common.multiple_queries(pool, common.clamp(queries)))


@get("/fortunes")
async def fortunes() -> Response:
    return html(await common.fortunes(pool))


@get("/updates")
async def updates(queries: str | None = None) -> Response:
    return json(await common.updates(pool, common.clamp(queries)))


@get("/cached-queries")
async def cached_queries(count: str | None = None) -> Response:
    return json(common.cached_queries(common.clamp(count)))


@get("/plaintext")
async def plaintext() -> Response:
    return text(common.HELLO)
