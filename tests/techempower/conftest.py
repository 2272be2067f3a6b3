"""Fixtures for the TechEmpower verifier: the harness's PostgreSQL and the example app served
by a real `covetpy run` (under whichever `COVETPY_IO` driver the suite runs with).

The verifier's tests take only `base_url` (and `database_url`, to read the database back):
override those two fixtures to verify another server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from benches.techempower.pg import Postgres, find_binaries
from tests.conftest import spawn


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL 15 with TFB's data for the whole session. Missing binaries skip the
    verifier on a developer's machine, but fail it under CI, where `make services` must have
    installed them."""
    try:
        find_binaries()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and PostgreSQL is missing: {exc}")
        pytest.skip(str(exc))
    with Postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def database_url(postgres: Postgres) -> str:
    """The DSN the app under test reads and writes."""
    return postgres.dsn


@pytest.fixture(scope="session")
def base_url(database_url: str) -> Iterator[str]:
    """examples/techempower/app.py served on a free loopback port, drained at the end (exit 0
    checked: the shutdown hook closes the pool)."""
    server = spawn("examples.techempower.app:app", env={"DATABASE_URL": database_url})
    assert server.ready.wait(60) and server.proc.poll() is None, server.log
    try:
        yield server.url
    finally:
        code = server.stop(timeout=30)
    assert code == 0, server.log


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Runs one statement on a connection of its own and returns the rows (a fresh session:
    the statistics views are read anew each time)."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())
