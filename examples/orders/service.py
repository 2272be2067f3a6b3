"""The order service: `POST /orders` stores an order and publishes `orders.created`.

```sh
COVETPY_EVENTS_URL=redis://127.0.0.1:6379 covetpy run examples.orders.service:app
curl -X POST localhost:8000/orders \\
     -d '{"customer": "ada", "lines": [{"sku": "pen", "quantity": 2}]}'
```
"""

from __future__ import annotations

import itertools

import msgspec

from covetpy import App
from examples.orders.events import OrderCreated, OrderLine

# The bus comes from $COVETPY_EVENTS_URL (memory:// without it); the service name, which
# names its consumer groups, from the title.
app = App(title="orders")

PRICES = {"pen": 1.5, "notebook": 4.0, "ink": 7.25}
_ids = itertools.count(1)


class NewOrder(msgspec.Struct):
    customer: str
    lines: list[OrderLine]


@app.post("/orders", status_code=201)
async def create_order(order: NewOrder) -> OrderCreated:
    total = sum(PRICES.get(line.sku, 0.0) * line.quantity for line in order.lines)
    created = OrderCreated(next(_ids), order.customer, order.lines, total)
    # Stored by the backend before the client gets its 201 (key: events of one order are
    # handled in order).
    await app.events.publish("orders.created", created, key=str(created.order_id))
    return created
