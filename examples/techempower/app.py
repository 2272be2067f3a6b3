"""The TechEmpower Framework Benchmarks test types, written as a CovetPy user would.

```sh
pip install covetpy asyncpg jinja2
DATABASE_URL=postgresql://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world \\
    covetpy run examples.techempower.app:app --port 8080 --workers 2
```

`python -m benches.techempower.pg` starts a PostgreSQL with TFB's schema and data and prints
its DSN. The driver is asyncpg: per request, a worker spends 1.2-2.7x less CPU on it than
on psycopg 3 (adrs/0021-postgres-driver.md).
"""

from __future__ import annotations

import os
import random
from operator import attrgetter
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import jinja2
import msgspec

from covetpy import App
from covetpy.middleware.builtin import SecurityHeaders
from covetpy.responses import HTMLResponse

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world"
)
# Connections per worker: with `--workers N` the database sees N times as many.
POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "16"))

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
# One statement writes the whole batch (TFB allows batched updates): the two arrays become
# rows joined on id.
UPDATE_WORLDS = (
    "UPDATE world SET randomnumber = v.r"
    " FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v"
    " WHERE world.id = v.id"
)
ADDITIONAL_FORTUNE = "Additional fortune added at request time."


class World(msgspec.Struct, rename="camel"):
    """A row of `world` (and of `cachedworld`); `randomNumber` on the wire, as TFB spells it."""

    id: int
    random_number: int


class Fortune(msgspec.Struct):
    """A row of `fortune`."""

    id: int
    message: str


# TFB: the message cannot be trusted, so the template engine must escape it.
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
)
fortunes_page = templates.get_template("fortunes.html")

# TFB requires a `Server` header, which CovetPy does not send by default. The native
# security-headers layer adds it in Rust, pre-rendered; its browser-hardening defaults are
# switched off so the responses are what TFB specifies and no more.
app = App(
    title="TechEmpower",
    middleware=[
        SecurityHeaders(
            frame_options="",
            referrer_policy="",
            extra={
                "server": "CovetPy",
                "x-content-type-options": "",
                "cross-origin-opener-policy": "",
            },
        )
    ],
)


class Database:
    """What the workers share: the pool (opened per worker) and the `CachedWorld` rows."""

    pool: asyncpg.Pool
    cached: list[World]


db = Database()


@app.on_startup
async def connect() -> None:
    db.pool = await asyncpg.create_pool(DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE)
    rows = await db.pool.fetch("SELECT id, randomnumber FROM cachedworld")
    db.cached = [World(*row) for row in rows]


@app.on_shutdown
async def disconnect() -> None:
    await db.pool.close()


def clamp(value: str) -> int:
    """TFB's rule for `queries` and `count`: not an integer, or below 1, means 1; above 500,
    500. A bad value is not a client error here, so the parameter is a `str`, not an `int`."""
    try:
        return min(max(int(value), 1), 500)
    except ValueError:
        return 1


def random_id() -> int:
    return random.randint(1, 10000)


@app.get("/json")
def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.get("/db")
async def single_query() -> World:
    row = await db.pool.fetchrow(SELECT_WORLD, random_id())
    return World(*row)


@app.get("/queries")
async def multiple_queries(queries: str = "1") -> list[World]:
    # One query per row, as TFB requires; `fetchmany` pipelines them on one connection
    # instead of waiting for each answer (measured: a quarter of the client CPU of a loop).
    rows = await db.pool.fetchmany(SELECT_WORLD, [(random_id(),) for _ in range(clamp(queries))])
    return [World(*row) for row in rows]


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes() -> str:
    rows = await db.pool.fetch("SELECT id, message FROM fortune")
    items = [Fortune(*row) for row in rows]
    items.append(Fortune(0, ADDITIONAL_FORTUNE))
    items.sort(key=attrgetter("message"))
    return fortunes_page.render(fortunes=items)


@app.get("/updates")
async def updates(queries: str = "1") -> list[World]:
    # Distinct ids: a batch that named one row twice would store only one of its two numbers,
    # and the response must show what the database holds.
    ids = random.sample(range(1, 10001), clamp(queries))
    async with db.pool.acquire() as conn:
        rows = await conn.fetchmany(SELECT_WORLD, [(i,) for i in ids])
        worlds = [World(row[0], random_id()) for row in rows]
        # Sorted by id, so concurrent batches lock rows in one order and cannot deadlock.
        batch = sorted(worlds, key=attrgetter("id"))
        await conn.execute(UPDATE_WORLDS, [w.id for w in batch], [w.random_number for w in batch])
    return worlds


@app.get("/cached-queries")
def cached_queries(count: str = "1") -> list[World]:
    return random.choices(db.cached, k=clamp(count))
