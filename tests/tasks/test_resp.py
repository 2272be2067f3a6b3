"""The task broker's own Redis connection: pipelined replies in order, error replies in place,
scripts reloaded after SCRIPT FLUSH (as after a restart), a lost connection failing what was
in flight and the next command connecting again."""

from __future__ import annotations

import asyncio

import pytest

from covetpy.events.testing import LocalServer, redis_server
from covetpy.tasks.backends.resp import Resp, RespError, Script
from tests.events.harness import run


def test_pipelined_replies_errors_and_scripts(redis: LocalServer) -> None:
    async def go() -> None:
        r = Resp(redis.url)
        echo = r.register(Script("return {KEYS[1], ARGV[1]}"))
        replies = await r.execute(
            [("SET", "resp:k", "v"), ("GET", "resp:k"), ("INCR", "resp:k"), echo.call(["a"], [1])]
        )
        assert replies[:2] == [b"OK", b"v"]
        assert isinstance(replies[2], RespError) and "not an integer" in str(replies[2])
        assert replies[3] == [b"a", b"1"]
        await r.call("SCRIPT", "FLUSH")  # what a restarted Redis has forgotten
        assert await r.call(*echo.call(["b"], [2])) == [b"b", b"2"]
        with pytest.raises(RespError):
            await r.call("NOSUCHCOMMAND")
        r.close()

    run(go())


def test_a_lost_connection_fails_in_flight_commands_and_the_next_reconnects() -> None:
    with redis_server(appendonly=False) as server:

        async def go() -> None:
            r = Resp(server.url)
            assert await r.call("PING") == b"PONG"
            blocked = asyncio.ensure_future(r.call("BLPOP", "resp:never", 0))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(server.restart)
            with pytest.raises(ConnectionError):
                await blocked
            assert await r.call("PING") == b"PONG"
            r.close()

        run(go())
