"""`app.events`: the bus of an App, started with its start-up hooks and drained and closed
with its shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from covetpy import App
from covetpy.events import EventBus
from covetpy.testing import TestClient


class OrderCreated(msgspec.Struct):
    order_id: int


def test_a_route_publishes_and_a_subscription_of_the_app_consumes() -> None:
    app = App(title="Order Service")
    received: list[OrderCreated] = []

    @app.events.subscribe("orders.created")
    async def on_created(event: OrderCreated) -> None:
        received.append(event)

    @app.post("/orders", status_code=202)
    async def create(order: OrderCreated) -> dict[str, Any]:
        published = await app.events.publish("orders.created", order, key=str(order.order_id))
        return {"id": published.id}

    with TestClient(app) as client:
        r = client.post("/orders", json={"order_id": 5})
        assert r.status_code == 202
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    assert received == [OrderCreated(5)]
    assert app.events.service == "order-service"
    assert not app.events.subscriptions[0].running  # drained and closed on shutdown


def test_the_bus_url_comes_from_the_argument_the_environment_or_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COVETPY_EVENTS_URL", raising=False)
    assert App().events.url == "memory://"
    monkeypatch.setenv("COVETPY_EVENTS_URL", "memory://from-env")
    assert App().events.url == "memory://from-env"
    assert App(events="memory://explicit").events.url == "memory://explicit"
    bus = EventBus(service="given")
    assert App(events=bus).events is bus
    assert App(title="x", service="billing").events.service == "billing"


def test_drain_events_stops_the_subscriptions() -> None:
    app = App()

    @app.events.subscribe("a.b")
    async def handler(event: int) -> None: ...

    async def main() -> tuple[bool, bool]:
        await app.startup()
        running = app.events.subscriptions[0].running
        await app.drain_events()
        stopped = not app.events.subscriptions[0].running
        await app.shutdown()
        return running, stopped

    assert asyncio.run(main()) == (True, True)
