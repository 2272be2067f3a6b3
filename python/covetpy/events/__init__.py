"""Typed events between services: `app.events` (or an `EventBus` of its own) publishes
events to dot-separated topics and runs `async def` handlers subscribed to patterns, on an
in-process queue (`memory://`), Redis Streams (`redis://`) or NATS JetStream (`nats://`).

```python
class OrderCreated(msgspec.Struct):
    order_id: int

@app.events.subscribe("orders.*")
async def on_order(event: OrderCreated) -> None: ...

await app.events.publish("orders.created", OrderCreated(42), key="42")
```

See designs/events.md for the guarantees each backend gives.
"""

from covetpy.events.backends import Published
from covetpy.events.bus import EventBus, StoredEvent
from covetpy.events.envelope import Envelope
from covetpy.events.idempotency import (
    Claim,
    IdempotencyStore,
    InProgress,
    MemoryIdempotency,
    RedisIdempotency,
    idempotent,
)
from covetpy.events.retry import Backoff, NonRetryable, RetryPolicy
from covetpy.events.subscription import Subscription
from covetpy.events.topics import TopicError, matches
from covetpy.events.worker import run, serve

__all__ = [
    "Backoff",
    "Claim",
    "Envelope",
    "EventBus",
    "IdempotencyStore",
    "InProgress",
    "MemoryIdempotency",
    "NonRetryable",
    "Published",
    "RedisIdempotency",
    "RetryPolicy",
    "StoredEvent",
    "Subscription",
    "TopicError",
    "idempotent",
    "matches",
    "run",
    "serve",
]
