"""A pipelining Redis client for the task broker's hot path: commands written to one
connection back to back, replies parsed by hiredis (C) as they arrive, each resolving the
future of its command.

Why not redis-py's asyncio client there (it still serves the rest of the broker): on this VM a
round trip through it costs ~106 µs of client CPU (a timeout context, connection-pool checks
and parsing layers per reply); through this one ~7.5 µs (`adrs/0019-durable-tasks.md`). A
worker makes two or three round trips per batch of runs, so at moderate rates, where a batch
is one run, that was most of its CPU, and the queueing behind it most of its p99.

Scripts are sent by SHA (EVALSHA) and loaded on NOSCRIPT, so a Redis restarted without its
script cache is served again without an error reaching the caller. A lost connection fails the
commands in flight with `ConnectionError` (the worker retries; an enqueue raises to its
caller: nothing was acknowledged) and the next command connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

from covetpy.exceptions import CovetError

try:
    import hiredis
except ImportError:  # without the tasks extra the module imports; RedisBroker() names it
    pass

__all__ = ["Resp", "RespError", "Script"]


class RespError(CovetError):
    """An error reply of Redis (`-ERR ...`)."""


class Script:
    """A Lua script known by its SHA1."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.sha = hashlib.sha1(body.encode()).hexdigest()

    def call(self, keys: list[Any], args: list[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        # uvloop's transports are not asyncio.Transport subclasses: typed by what is used.
        self.transport: Any = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            reply = self._reader.gets()
            if reply is False:
                return
            waiter = self._waiting.popleft()
            if not waiter.done():  # a caller cancelled meanwhile: the reply is dropped
                waiter.set_result(reply)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionError("redis closed the connection")
        self.transport = None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"redis connection lost: {self.lost}"))

    def send(self, commands: list[tuple[Any, ...]]) -> list[asyncio.Future[Any]]:
        if self.transport is None:
            raise ConnectionError(f"redis connection lost: {self.lost}")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._waiting.extend(futures)
        self.transport.write(b"".join(hiredis.pack_command(c) for c in commands))
        return futures

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Resp:
    """One connection to the Redis of `url` (redis:// or rediss://, user, password, /db),
    made on first use and again after it was lost."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 6379
        self._ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self._auth: tuple[str, ...] = ()
        if parts.password is not None:
            user = unquote(parts.username) if parts.username else None
            password = unquote(parts.password)
            self._auth = ("AUTH", user, password) if user else ("AUTH", password)
        db = parts.path.strip("/")
        self._db = int(db) if db else 0
        self._conn: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._scripts: dict[bytes, Script] = {}

    def register(self, script: Script) -> Script:
        self._scripts[script.sha.encode()] = script
        return script

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and conn.transport is not None:
            return conn
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._conn is None or self._conn.transport is None:
                loop = asyncio.get_running_loop()
                _, made = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl
                )
                setup = [c for c in (self._auth, ("SELECT", self._db) if self._db else ()) if c]
                if setup:
                    for reply in await asyncio.gather(*made.send(setup)):
                        if isinstance(reply, hiredis.ReplyError):
                            made.close()
                            raise RespError(str(reply))
                self._conn = made
            return self._conn

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies of `commands`, sent together; an error reply is a `RespError` in its
        place (not raised), so one failed command does not hide the others' results."""
        conn = await self._connection()
        replies = list(await asyncio.gather(*conn.send(commands)))
        missing = [
            i for i, r in enumerate(replies)
            if isinstance(r, hiredis.ReplyError) and str(r).startswith("NOSCRIPT")
        ]  # fmt: skip
        if missing:  # a restarted Redis: load the scripts and send those commands again
            conn = await self._connection()
            await asyncio.gather(
                *conn.send([("SCRIPT", "LOAD", s.body) for s in self._scripts.values()])
            )
            again = await asyncio.gather(*conn.send([commands[i] for i in missing]))
            for i, r in zip(missing, again, strict=True):
                replies[i] = r
        return [RespError(str(r)) if isinstance(r, hiredis.ReplyError) else r for r in replies]

    async def call(self, *command: Any) -> Any:
        """One command's reply; an error reply is raised."""
        (reply,) = await self.execute([command])
        if isinstance(reply, RespError):
            raise reply
        return reply

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
