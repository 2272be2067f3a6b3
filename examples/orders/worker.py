"""The fulfilment worker: consumes `orders.created` through Redis or NATS and "ships" each
order once.

```sh
COVETPY_EVENTS_URL=redis://127.0.0.1:6379 python -m examples.orders.worker
```

Run it several times: the processes share the `fulfilment:ship` consumer group, so each
order is shipped by one of them. SIGTERM drains it (finishes and acks what it holds).
"""

from __future__ import annotations

import logging
import os

from covetpy.events import EventBus, MemoryIdempotency, idempotent, run
from examples.orders.events import OrderCreated

bus = EventBus(os.environ.get("COVETPY_EVENTS_URL", "redis://127.0.0.1:6379"), service="fulfilment")


# start="all": the first time this group is created it takes every order already stored.
@bus.subscribe("orders.created", name="ship", start="all", max_deliveries=5, concurrency=4)
@idempotent(MemoryIdempotency())  # redeliveries to this process are skipped
async def ship(order: OrderCreated) -> None:
    items = sum(line.quantity for line in order.lines)
    print(f"shipped order {order.order_id} to {order.customer}: {items} items", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(bus)
