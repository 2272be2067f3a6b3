"""What every peer of the TechEmpower bench does the same way: the SQL, the asyncpg pool, the
`queries` clamping, the fortunes template and the in-process cache. Each peer module only adds
its framework's routing, request parsing and responses, so a difference between peers is a
difference between frameworks, not between their database code; and the database work is
CovetPy's (examples/techempower/app.py) statement for statement, so the comparison with it is
one of frameworks too.

The rules are TFB's (github.com/TechEmpower/FrameworkBenchmarks, "Test type requirements"):
- `queries`/`count`: an integer clamped to 1..500; missing, not a number or below 1 means 1.
- Multiple queries and updates read each row with its own query (no `WHERE id IN`); asyncpg's
  `fetchmany` pipelines those queries on one connection. Updates write the batch back in one
  statement (TFB allows batching), ids distinct and sorted so that concurrent batches lock
  rows in one order.
- Fortunes: every row plus "Additional fortune added at request time." (id 0), sorted by
  message, rendered by a template engine that escapes (Jinja2 with autoescape).
- Cached queries: from an in-process cache of `CachedWorld` filled once at start-up.
"""

from __future__ import annotations

import os
import random
from operator import itemgetter
from typing import Any

import asyncpg
import jinja2

DEFAULT_DSN = "postgresql://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world"
POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "16"))
"""Connections per server process: every peer the same, as CovetPy's app (one worker each)."""

READ_ROW_SQL = "SELECT id, randomnumber FROM world WHERE id = $1"
# The two arrays become rows joined on id: one statement for the whole batch.
WRITE_ROWS_SQL = (
    "UPDATE world SET randomnumber = v.r"
    " FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v"
    " WHERE world.id = v.id"
)
FORTUNES_SQL = "SELECT id, message FROM fortune"
CACHE_SQL = "SELECT id, randomnumber FROM cachedworld"
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")
ROWS = 10_000

TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
    "{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>"
    "{% endfor %}</table></body></html>"
)
JSON = "application/json"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HELLO = "Hello, World!"

World = dict[str, int]
_by_message = itemgetter(1)
_cache: list[World] = []


def dsn() -> str:
    """The database of the run: `DATABASE_URL`, as CovetPy's app reads it."""
    return os.environ.get("DATABASE_URL", DEFAULT_DSN)


def clamp(raw: str | None) -> int:
    """TFB's `queries` rule: 1..500, and 1 for anything that is not a number."""
    try:
        n = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1
    return 1 if n < 1 else min(n, 500)


def query_param(query_string: str | bytes, name: str) -> str | None:
    """One value of a raw query string, for the servers that hand the string over unparsed
    (RSGI, socketify); the others use their framework's own query parsing."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


async def create_pool() -> Any:
    """The pool, created at start-up with all its connections open."""
    return await asyncpg.create_pool(dsn(), min_size=POOL_SIZE, max_size=POOL_SIZE)


async def single_query(pool: Any) -> World:
    row = await pool.fetchrow(READ_ROW_SQL, random.randint(1, ROWS))
    return {"id": row[0], "randomNumber": row[1]}


async def multiple_queries(pool: Any, count: int) -> list[World]:
    ids = [(random.randint(1, ROWS),) for _ in range(count)]
    return [{"id": r[0], "randomNumber": r[1]} for r in await pool.fetchmany(READ_ROW_SQL, ids)]


async def updates(pool: Any, count: int) -> list[World]:
    ids = sorted(random.sample(range(1, ROWS + 1), count))
    numbers = [random.randint(1, ROWS) for _ in ids]
    async with pool.acquire() as conn:
        # Read as TFB requires; the values read are replaced, not used.
        await conn.fetchmany(READ_ROW_SQL, [(i,) for i in ids])
        await conn.execute(WRITE_ROWS_SQL, ids, numbers)
    return [{"id": i, "randomNumber": n} for i, n in zip(ids, numbers, strict=True)]


async def fortunes(pool: Any) -> str:
    rows = [tuple(r) for r in await pool.fetch(FORTUNES_SQL)]
    rows.append(ADDITIONAL_FORTUNE)
    rows.sort(key=_by_message)
    return TEMPLATE.render(fortunes=rows)


async def fill_cache(pool: Any) -> None:
    """Loads every row once (TFB's cached queries read a cache, never the database)."""
    rows = await pool.fetch(CACHE_SQL)
    _cache[:] = [{"id": r[0], "randomNumber": r[1]} for r in rows]


def cached_queries(count: int) -> list[World]:
    return random.choices(_cache, k=count)
