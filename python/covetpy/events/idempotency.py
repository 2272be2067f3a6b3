"""Handling each event once although it may be delivered more than once.

```python
seen = RedisIdempotency(redis_client, ttl=24 * 3600)

@bus.subscribe("orders.created")
@idempotent(seen)
async def charge(event: OrderCreated) -> None: ...
```

A key (by default the event id) is claimed before the handler runs: a short lease while it
runs, turned into a long-lived "done" mark when it succeeds and released when it fails, so:

- a redelivery of an event already handled is skipped (and acked);
- a redelivery while another consumer is still handling it raises `InProgress`, a retryable
  error, so it is retried after the lease, and handled then if that consumer has died;
- a failure lets the retry run the handler again.

`MemoryIdempotency` remembers keys in this process (an LRU of `max_keys`); `RedisIdempotency`
in Redis (`SET key NX PX`), shared by every consumer.
"""

from __future__ import annotations

import enum
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from covetpy.events import context
from covetpy.events.envelope import Envelope
from covetpy.exceptions import CovetError

__all__ = [
    "Claim",
    "IdempotencyStore",
    "InProgress",
    "MemoryIdempotency",
    "RedisIdempotency",
    "idempotent",
]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class Claim(enum.Enum):
    """The state of a key when a handler tries to claim it."""

    NEW = "new"
    """Nobody has handled it: the caller now holds the lease."""
    DONE = "done"
    """Handled already."""
    BUSY = "busy"
    """Another handler holds its lease."""


class InProgress(CovetError):
    """Raised for an event whose key another handler is working on (retried later)."""


class IdempotencyStore(Protocol):
    """Where handled keys are remembered."""

    async def claim(self, key: str, lease: float) -> Claim:
        """Tries to take `key` for `lease` seconds."""
        ...

    async def complete(self, key: str) -> None:
        """Marks `key` handled."""
        ...

    async def release(self, key: str) -> None:
        """Gives `key` up after a failure, so a retry can take it."""
        ...


class MemoryIdempotency:
    """Keys remembered in this process: the last `max_keys` keys, each for `ttl` seconds."""

    def __init__(self, max_keys: int = 100_000, ttl: float = 24 * 3600.0) -> None:
        self.max_keys = max_keys
        self.ttl = ttl
        self._keys: OrderedDict[str, tuple[bool, float]] = OrderedDict()  # key -> (done, until)

    async def claim(self, key: str, lease: float) -> Claim:
        now = time.monotonic()
        entry = self._keys.get(key)
        if entry is not None and entry[1] > now:
            self._keys.move_to_end(key)
            return Claim.DONE if entry[0] else Claim.BUSY
        self._set(key, False, now + lease)
        return Claim.NEW

    async def complete(self, key: str) -> None:
        self._set(key, True, time.monotonic() + self.ttl)

    async def release(self, key: str) -> None:
        self._keys.pop(key, None)

    def _set(self, key: str, done: bool, until: float) -> None:
        self._keys[key] = (done, until)
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)


class RedisIdempotency:
    """Keys remembered in Redis as `<prefix><key>`: "busy" with a lease while a handler runs,
    "done" for `ttl` seconds once it succeeded. `client` is a `redis.asyncio.Redis`."""

    def __init__(self, client: Any, *, prefix: str = "covetpy:idem:", ttl: float = 86400.0) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl

    async def claim(self, key: str, lease: float) -> Claim:
        name = self.prefix + key
        if await self.client.set(name, "busy", nx=True, px=max(1, int(lease * 1000))):
            return Claim.NEW
        state = await self.client.get(name)
        if state is None:  # expired in between: try once more
            ok = await self.client.set(name, "busy", nx=True, px=max(1, int(lease * 1000)))
            return Claim.NEW if ok else Claim.BUSY
        return Claim.DONE if state in (b"done", "done") else Claim.BUSY

    async def complete(self, key: str) -> None:
        await self.client.set(self.prefix + key, "done", px=max(1, int(self.ttl * 1000)))

    async def release(self, key: str) -> None:
        await self.client.delete(self.prefix + key)


def _event_id(envelope: Envelope) -> str:
    return envelope.id


def idempotent(
    store: IdempotencyStore,
    *,
    key: Callable[[Envelope], str] = _event_id,
    lease: float = 60.0,
) -> Callable[[F], F]:
    """Wraps an event handler so that it runs at most once per `key(envelope)` (the event
    id by default; use a business key such as the order id to also fold events published
    twice under different ids). `lease` should exceed the handler's longest run."""

    def decorator(handler: F) -> F:
        @functools.wraps(handler)
        async def wrapper(*args: Any) -> Any:
            envelope = context.envelope.get()
            if envelope is None:
                raise RuntimeError("@idempotent handlers run only inside an EventBus")
            k = key(envelope)
            state = await store.claim(k, lease)
            if state is Claim.DONE:
                return None
            if state is Claim.BUSY:
                raise InProgress(f"{k} is being handled elsewhere")
            try:
                result = await handler(*args)
            except BaseException:
                await store.release(k)
                raise
            await store.complete(k)
            return result

        return wrapper  # type: ignore[return-value]

    return decorator
