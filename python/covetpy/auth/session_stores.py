"""Where server-side sessions live: `Sessions(store="memory" | "redis://..." | a store)`.

A store maps a key (the SHA-256 of the session id, so a copy of the store holds no usable
cookie) to the session's encoded data, with a time to live. Any object with these three
coroutine methods is a store:

```python
class SessionStore(Protocol):
    async def load(self, key: str) -> bytes | None: ...
    async def save(self, key: str, data: bytes, ttl: int) -> None: ...
    async def delete(self, key: str) -> None: ...
```
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

from covetpy.exceptions import ConfigError, require

__all__ = ["MemoryStore", "RedisStore", "SessionStore", "store_from"]


@runtime_checkable
class SessionStore(Protocol):
    """What `Sessions(store=...)` needs of a store."""

    async def load(self, key: str) -> bytes | None:
        """The data saved under `key`, or None (never saved, deleted, or expired)."""

    async def save(self, key: str, data: bytes, ttl: int) -> None:
        """Saves `data` under `key` for `ttl` seconds."""

    async def delete(self, key: str) -> None:
        """Forgets `key` (a replayed cookie then finds nothing)."""


class MemoryStore:
    """Sessions in this process's memory, at most `max_entries` (the least recently saved go
    first). Each worker process has its own: with `--workers` above 1, use Redis."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ConfigError(f"MemoryStore max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        # key -> (monotonic expiry, data), in the order saved: the first is the oldest.
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def load(self, key: str) -> bytes | None:
        """The data under `key` unless it expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    async def save(self, key: str, data: bytes, ttl: int) -> None:
        """Saves `data` for `ttl` seconds; drops the expired and, beyond `max_entries`, the
        least recently saved entries."""
        now = time.monotonic()
        entries = self._entries
        entries[key] = (now + ttl, data)
        entries.move_to_end(key)
        # The first entries are the least recently saved, and (with one ttl for all, a
        # Sessions' max_age) the first to expire: dropping from the front is O(1) each.
        while entries:
            first = next(iter(entries))
            if len(entries) <= self.max_entries and entries[first][0] > now:
                break
            entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        """Forgets `key`."""
        self._entries.pop(key, None)


class RedisStore:
    """Sessions in Redis (`redis.asyncio`, from the `events` extra), each under
    `prefix + key` with Redis's own expiry. Shared by every worker and instance."""

    def __init__(self, url: str, prefix: str = "covetpy:session:") -> None:
        require("Sessions(store='redis://...')", "events", "redis.asyncio")
        self.url = url
        self.prefix = prefix
        # A client belongs to the event loop it was made in (its connections do): one per loop,
        # made on first use (a worker's loop, or a test client's).
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def _client(self) -> Any:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = aioredis.from_url(self.url)
        return client

    async def load(self, key: str) -> bytes | None:
        """The data under `key` unless it expired."""
        data = await self._client().get(self.prefix + key)
        return None if data is None else bytes(data)

    async def save(self, key: str, data: bytes, ttl: int) -> None:
        """`SET prefix+key data EX ttl`."""
        await self._client().set(self.prefix + key, data, ex=max(1, ttl))

    async def delete(self, key: str) -> None:
        """`DEL prefix+key`."""
        await self._client().delete(self.prefix + key)

    async def aclose(self) -> None:
        """Closes this event loop's connections (an `on_shutdown` hook may call it)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def __repr__(self) -> str:
        # The URL may carry a password.
        return f"RedisStore(prefix={self.prefix!r})"


def store_from(store: str | SessionStore | None) -> SessionStore | None:
    """The store `Sessions(store=...)` names: None, "memory", a redis:// or rediss:// URL,
    or a store object."""
    if store is None:
        return None
    if isinstance(store, str):
        if store == "memory":
            return MemoryStore()
        if store.startswith(("redis://", "rediss://", "unix://")):
            return RedisStore(store)
        raise ConfigError(
            f"Sessions store: expected 'memory', a redis:// URL or a store object, "
            f"not {store.split('://')[0]!r}"
        )
    if not isinstance(store, SessionStore):
        raise ConfigError(f"Sessions store: {type(store).__name__} lacks async load/save/delete")
    return store
