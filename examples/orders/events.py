"""The events the order service publishes: the contract between it and its consumers."""

from __future__ import annotations

import msgspec


class OrderLine(msgspec.Struct):
    sku: str
    quantity: int


class OrderCreated(msgspec.Struct):
    """Published to `orders.created` once an order is stored (key: the order id)."""

    order_id: int
    customer: str
    lines: list[OrderLine]
    total: float
