"""asyncpg or psycopg 3 for the TechEmpower app: client CPU per database operation (ADR 0021).

    .venv/bin/python -m benches.techempower.driver [--seconds 3] [--concurrency 16]

Starts the harness's PostgreSQL (`pg.py`) pinned to the last CPU, runs the client pinned to the
first on one uvloop event loop, and for each driver times the operations the TFB test types
make, through a pool of `--concurrency` connections with as many tasks issuing them:

- `select`: one row by id, prepared (`/db`, and each row of `/queries`);
- `select x20`: twenty one-row selects one after the other (`/queries?queries=20` written
  plainly);
- `select x20 pipelined`: the same twenty sent without waiting for each answer (asyncpg's
  `fetchmany`, psycopg's pipeline mode): still one query per row, as TFB requires;
- `update x20`: one UPDATE of twenty rows from two arrays (`/updates` batches its writes);
- `fortunes`: every row of `fortune`.

Client CPU (`time.process_time`, every thread of this process) divided by operations is the
figure that matters: it is what the framework's worker pays per request, whatever the
database's speed. Wall time per operation is printed too but depends on the server.

`--through-app` then serves the same requests through CovetPy handlers: the example app
(asyncpg) and `psycopg_app` below (the same handlers on psycopg), one worker pinned to the
first CPU, `covetpy bench` and PostgreSQL on the other; the figure is the worker's CPU
(`/proc/PID/stat`) per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from operator import attrgetter
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psycopg
import psycopg_pool
import uvloop

from benches.techempower.pg import Postgres
from covetpy import App
from covetpy.responses import HTMLResponse
from examples.techempower.app import (
    ADDITIONAL_FORTUNE,
    Fortune,
    World,
    clamp,
    fortunes_page,
    random_id,
)

SELECT = "SELECT id, randomnumber FROM world WHERE id = $1"
# One statement for a whole batch: the arrays are unnested into rows and joined on id. Sorted
# ids keep concurrent batches from deadlocking on each other's row locks.
UPDATE = (
    "UPDATE world SET randomnumber = v.r"
    " FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v"
    " WHERE world.id = v.id"
)
FORTUNES = "SELECT id, message FROM fortune"

Op = Callable[[Any], Awaitable[object]]


def _ids(n: int) -> list[int]:
    return [random.randint(1, 10000) for _ in range(n)]


def _batch() -> tuple[list[int], list[int]]:
    ids = sorted(set(_ids(20)))
    return ids, [random.randint(1, 10000) for _ in ids]


def asyncpg_ops() -> dict[str, Op]:
    """The operations on an asyncpg connection (statements are prepared and cached by asyncpg
    on first use, per connection)."""

    async def select(c: asyncpg.Connection) -> object:
        return await c.fetchrow(SELECT, random.randint(1, 10000))

    async def select20(c: asyncpg.Connection) -> object:
        return [await c.fetchrow(SELECT, i) for i in _ids(20)]

    async def select20_pipelined(c: asyncpg.Connection) -> object:
        return await c.fetchmany(SELECT, [(i,) for i in _ids(20)])

    async def update20(c: asyncpg.Connection) -> object:
        return await c.execute(UPDATE, *_batch())

    async def fortunes(c: asyncpg.Connection) -> object:
        return await c.fetch(FORTUNES)

    return {
        "select": select,
        "select x20": select20,
        "select x20 pipelined": select20_pipelined,
        "update x20": update20,
        "fortunes": fortunes,
    }


def psycopg_ops() -> dict[str, Op]:
    """The same on a psycopg AsyncConnection (`prepare=True`: server-side prepared at once)."""
    select_sql = SELECT.replace("$1", "%s")
    update_sql = UPDATE.replace("$1", "%s").replace("$2", "%s")

    async def select(c: psycopg.AsyncConnection[Any]) -> object:
        cur = await c.execute(select_sql, (random.randint(1, 10000),), prepare=True)
        return await cur.fetchone()

    async def select20(c: psycopg.AsyncConnection[Any]) -> object:
        rows = []
        for i in _ids(20):
            cur = await c.execute(select_sql, (i,), prepare=True)
            rows.append(await cur.fetchone())
        return rows

    async def select20_pipelined(c: psycopg.AsyncConnection[Any]) -> object:
        async with c.cursor() as cur:
            await cur.executemany(select_sql, [(i,) for i in _ids(20)], returning=True)
            rows = [await cur.fetchone()]
            while cur.nextset():
                rows.append(await cur.fetchone())
            return rows

    async def update20(c: psycopg.AsyncConnection[Any]) -> object:
        return await c.execute(update_sql, _batch(), prepare=True)

    async def fortunes(c: psycopg.AsyncConnection[Any]) -> object:
        cur = await c.execute(FORTUNES, prepare=True)
        return await cur.fetchall()

    return {
        "select": select,
        "select x20": select20,
        "select x20 pipelined": select20_pipelined,
        "update x20": update20,
        "fortunes": fortunes,
    }


async def measure(
    acquire: Callable[[], Any], op: Op, concurrency: int, seconds: float
) -> tuple[float, float, int]:
    """(client CPU µs per op, wall µs per op, ops) for `concurrency` tasks looping on `op`,
    each on a pooled connection, for about `seconds` after a short warm-up."""

    async def worker(deadline: float) -> int:
        n = 0
        while time.monotonic() < deadline:
            async with acquire() as conn:
                await op(conn)
            n += 1
        return n

    warm = time.monotonic() + min(0.5, seconds / 4)
    await asyncio.gather(*(worker(warm) for _ in range(concurrency)))
    cpu, wall = time.process_time(), time.perf_counter()
    deadline = time.monotonic() + seconds
    ops = sum(await asyncio.gather(*(worker(deadline) for _ in range(concurrency))))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / ops * 1e6, wall / ops * 1e6, ops


async def run(dsn: str, concurrency: int, seconds: float) -> dict[str, dict[str, float]]:
    """Client CPU µs per op, by driver and operation."""
    results: dict[str, dict[str, float]] = {"asyncpg": {}, "psycopg": {}}
    apool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:
        for name, op in asyncpg_ops().items():
            cpu, wall, ops = await measure(apool.acquire, op, concurrency, seconds)
            results["asyncpg"][name] = cpu
            print(f"asyncpg  {name:22} {cpu:8.1f} µs CPU {wall:8.1f} µs wall  ({ops} ops)")
    finally:
        await apool.close()
    # Autocommit, like asyncpg: otherwise every operation would also pay a BEGIN and the
    # pool's COMMIT on return.
    ppool = psycopg_pool.AsyncConnectionPool(
        dsn,
        min_size=concurrency,
        max_size=concurrency,
        kwargs={"autocommit": True},
        open=False,
    )
    await ppool.open(wait=True)
    try:
        for name, op in psycopg_ops().items():
            cpu, wall, ops = await measure(ppool.connection, op, concurrency, seconds)
            results["psycopg"][name] = cpu
            print(f"psycopg  {name:22} {cpu:8.1f} µs CPU {wall:8.1f} µs wall  ({ops} ops)")
    finally:
        await ppool.close()
    return results


# -- the same handlers on psycopg (served by `--through-app`) ---------------------------------

psycopg_app = App(title="TechEmpower on psycopg")
_pools: list[psycopg_pool.AsyncConnectionPool[Any]] = []
_SELECT = SELECT.replace("$1", "%s")


@psycopg_app.on_startup
async def _open_pool() -> None:
    pool = psycopg_pool.AsyncConnectionPool(
        os.environ["DATABASE_URL"],
        min_size=16,
        max_size=16,
        kwargs={"autocommit": True},
        open=False,
    )
    await pool.open(wait=True)
    _pools.append(pool)


@psycopg_app.on_shutdown
async def _close_pool() -> None:
    await _pools.pop().close()


@psycopg_app.get("/db")
async def _db() -> World:
    async with _pools[0].connection() as conn:
        cur = await conn.execute(_SELECT, (random_id(),), prepare=True)
        return World(*(await cur.fetchone() or ()))


@psycopg_app.get("/queries")
async def _queries(queries: str = "1") -> list[World]:
    async with _pools[0].connection() as conn, conn.cursor() as cur:
        params = [(random_id(),) for _ in range(clamp(queries))]
        await cur.executemany(_SELECT, params, returning=True)
        worlds = [World(*(await cur.fetchone() or ()))]
        while cur.nextset():
            worlds.append(World(*(await cur.fetchone() or ())))
        return worlds


@psycopg_app.get("/fortunes", response_class=HTMLResponse)
async def _fortunes() -> str:
    async with _pools[0].connection() as conn:
        cur = await conn.execute(FORTUNES, prepare=True)
        items = [Fortune(*row) for row in await cur.fetchall()]
    items.append(Fortune(0, ADDITIONAL_FORTUNE))
    items.sort(key=attrgetter("message"))
    return fortunes_page.render(fortunes=items)


APPS = {
    "asyncpg": "examples.techempower.app:app",
    "psycopg": "benches.techempower.driver:psycopg_app",
}
PATHS = ["/db", "/queries?queries=20", "/fortunes"]


def _cpu_ticks(pid: int) -> int:
    """utime + stime of `pid`, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def through_app(dsn: str, seconds: float, connections: int) -> dict[str, dict[str, float]]:
    """Worker CPU µs per request, by driver and path, serving with one pinned worker."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    results: dict[str, dict[str, float]] = {}
    root = Path(__file__).resolve().parents[2]
    covetpy = [sys.executable, "-m", "covetpy"]
    for driver, target in APPS.items():
        results[driver] = {}
        port = str(_free_port())
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "server.log"
            with open(log, "wb") as out:
                server = subprocess.Popen(
                    ["taskset", "-c", "0", *covetpy, "run", target, "--port", port],
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=out,
                    env=dict(os.environ, DATABASE_URL=dsn),
                )
            try:
                deadline = time.monotonic() + 60
                while (m := re.search(r"worker (\d+) serving", log.read_text())) is None:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{target} did not start:\n{log.read_text()}")
                    time.sleep(0.05)
                worker = int(m.group(1))
                for path in PATHS:
                    report = Path(tmp) / "report.json"
                    load = ["-c", str(connections), "-d", f"{seconds}s", "-q", "--json"]
                    url = f"http://127.0.0.1:{port}{path}"
                    argv = ["taskset", "-c", "1", *covetpy, "bench", *load, str(report), url]
                    before = _cpu_ticks(worker)
                    subprocess.run(argv, check=True, cwd=root, stdout=subprocess.DEVNULL)
                    used = _cpu_ticks(worker) - before
                    done = json.loads(report.read_text())
                    if done["errors_total"]:
                        raise RuntimeError(f"{driver} {path}: {done['errors_total']} errors")
                    per_request = used * tick_us / done["requests"]
                    results[driver][path] = per_request
                    print(
                        f"{driver:8} {path:22} {per_request:8.1f} µs worker CPU"
                        f" {done['requests_per_s']:10.0f} req/s"
                    )
            finally:
                server.terminate()
                server.wait(30)
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _table(results: dict[str, dict[str, float]], unit: str) -> None:
    print(f"\n| operation | asyncpg {unit} | psycopg {unit} | psycopg / asyncpg |")
    print("|---|---:|---:|---:|")
    for name, a in results["asyncpg"].items():
        p = results["psycopg"][name]
        print(f"| {name} | {a:.1f} | {p:.1f} | {p / a:.2f} |")


def main() -> None:
    """Parses the options, starts PostgreSQL, prints the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per operation and driver")
    parser.add_argument("--concurrency", type=int, default=16, help="tasks and pooled conns")
    parser.add_argument(
        "--through-app", action="store_true", help="also measure through CovetPy handlers"
    )
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    print(
        f"# {platform.node()}: {cpus} CPUs, Python {platform.python_version()},"
        f" asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__},"
        f" concurrency {args.concurrency}, {args.seconds}s per cell"
    )
    with Postgres(cpus=str(cpus - 1)) as pg:
        mask = os.sched_getaffinity(0)
        if cpus > 1:
            os.sched_setaffinity(0, {0})
        results = uvloop.run(run(pg.dsn, args.concurrency, args.seconds))
        os.sched_setaffinity(0, mask)
        _table(results, "µs CPU")
        if args.through_app:
            print()
            _table(through_app(pg.dsn, args.seconds, args.concurrency), "µs worker CPU")


if __name__ == "__main__":
    main()
