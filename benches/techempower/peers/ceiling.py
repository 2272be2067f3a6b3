"""The database's own ceiling: single-row selects/s (TFB's `/db` statement) from a tight
asyncpg client on uvloop, as many connections as a server's pool, nothing else on the loop.

    python -m benches.techempower.peers.ceiling DSN SECONDS POSTMASTER_PID

Two modes: one select per round trip (as /db), and 20 pipelined per round trip with
`fetchmany` (as the reads of /queries and /updates). Prints one JSON line: per mode,
selects/s and the share of a CPU the postgres processes and this client used (from /proc).
When postgres is near 100% of its CPU the figure is the database's ceiling; when the client
is instead, the ceiling is higher, and the bench scales it by postgres's share. Run by
benches/techempower/bench.py with this process pinned to CPU 0 and PostgreSQL to CPU 1.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from benches.techempower.peers import common

TICKS = 100  # SC_CLK_TCK on Linux


def _postgres_cpu_seconds(postmaster: int) -> float:
    """CPU seconds of the postmaster and its children (every backend is one): only the
    cluster under test, whatever else runs on the machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _loop(conn: asyncpg.Connection, deadline: float, batch: int) -> int:
    """Selects until `deadline`: one per round trip (`batch` 1, as /db), or `batch` pipelined
    per round trip with `fetchmany` (as /queries and /updates read)."""
    n = 0
    while time.monotonic() < deadline:
        if batch == 1:
            await conn.fetchval(common.READ_ROW_SQL, random.randint(1, common.ROWS))
        else:
            ids = [(random.randint(1, common.ROWS),) for _ in range(batch)]
            await conn.fetchmany(common.READ_ROW_SQL, ids)
        n += batch
    return n


async def _mode(
    conns: list[asyncpg.Connection], seconds: float, postmaster: int, batch: int
) -> dict[str, float]:
    await asyncio.gather(*(_loop(c, time.monotonic() + 0.5, batch) for c in conns))  # warm-up
    start, pg, me = time.monotonic(), _postgres_cpu_seconds(postmaster), _client_cpu_seconds()
    counts = await asyncio.gather(*(_loop(c, start + seconds, batch) for c in conns))
    wall = time.monotonic() - start
    return {
        "selects_per_s": sum(counts) / wall,
        "postgres_cpu": (_postgres_cpu_seconds(postmaster) - pg) / wall,
        "client_cpu": (_client_cpu_seconds() - me) / wall,
    }


async def measure(dsn: str, seconds: float, postmaster: int) -> dict[str, Any]:
    conns = [await asyncpg.connect(dsn) for _ in range(common.POOL_SIZE)]
    result = {
        "connections": common.POOL_SIZE,
        "single": await _mode(conns, seconds, postmaster, 1),
        "pipelined_20": await _mode(conns, seconds, postmaster, 20),
    }
    await asyncio.gather(*(c.close() for c in conns))
    return result


def main() -> None:
    dsn, seconds, postmaster = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(uvloop.run(measure(dsn, seconds, postmaster))))


if __name__ == "__main__":
    main()
