"""The shop service of the mesh pair: `GET /orders/{order_id}` looks the order up and asks the
inventory service, over gRPC, whether its item is in stock. The gRPC call carries the HTTP
request's id, trace and what is left of its deadline. See README.md.

```sh
INVENTORY_GRPC=127.0.0.1:50061 .venv/bin/covetpy run examples.mesh_pair.shop_service:app --port 8000
curl -s localhost:8000/orders/1
```
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]

from covetpy import App, HTTPException
from covetpy.grpc import client_interceptors, protos

inventory_pb2, inventory_pb2_grpc = protos.load(Path(__file__).with_name("inventory.proto"))

ORDERS = {1: ("pen", 3), 2: ("ink", 1), 3: ("quill", 1)}
"""order id -> (sku, quantity)."""

# The time a request may take when the caller (or the proxy in front) sets no deadline.
BUDGET = 2.0

# `mesh=True`: each request's id is accepted or made (in Rust), and the handler's gRPC call
# carries on its request id, trace and deadline, under a server span while tracing is on
# (OTEL_TRACES_EXPORTER set).
app = App(title="shop", mesh=True)

# GRPC status -> the HTTP status the shop answers with.
_STATUS = {
    grpc.StatusCode.NOT_FOUND: 502,  # the inventory does not know an item the order has
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.UNAVAILABLE: 503,
}


class _Inventory:
    """One channel per worker, opened at start-up."""

    channel: Any = None
    stub: Any = None


inventory = _Inventory()


@app.on_startup
async def connect() -> None:
    target = os.environ.get("INVENTORY_GRPC", "127.0.0.1:50061")
    # Every call on this channel carries the current request's id, trace and deadline (and
    # gets a client span while tracing is on). Per call instead: `**call_options()`.
    inventory.channel = grpc.aio.insecure_channel(target, interceptors=client_interceptors())
    inventory.stub = inventory_pb2_grpc.InventoryStub(inventory.channel)


@app.on_shutdown
async def disconnect() -> None:
    await inventory.channel.close()


@app.get("/orders/{order_id:int}")
async def order(order_id: int) -> dict[str, Any]:
    """The order and whether the inventory has enough of its item."""
    if order_id not in ORDERS:
        raise HTTPException(404, f"no order {order_id}")
    sku, quantity = ORDERS[order_id]
    try:
        # The timeout is BUDGET, or what is left of this request's deadline if that is less.
        stock = await inventory.stub.GetStock(inventory_pb2.StockRequest(sku=sku), timeout=BUDGET)
    except grpc.aio.AioRpcError as exc:
        raise HTTPException(
            _STATUS.get(exc.code(), 502), f"inventory: {exc.code().name} {exc.details()}"
        ) from exc
    return {
        "order": order_id,
        "sku": sku,
        "quantity": quantity,
        "in_stock": stock.quantity >= quantity,
        # What the inventory service saw of the call (README.md: the context flowing).
        "inventory_saw": {
            "request_id": stock.request_id,
            "traceparent": stock.traceparent,
            "budget_seconds": round(stock.budget_seconds, 3),
        },
    }
