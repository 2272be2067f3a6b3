"""`app.broadcast` between two `covetpy run` instances joined by `App(channels=url)` over a
real redis-server and nats-server: a message sent on one reaches the other's subscribers
(and its own, once)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import msgspec
import pytest
from websockets.sync.client import ClientConnection, connect

from covetpy.events.testing import LocalServer, nats_server, redis_server
from tests.conftest import RunningServer, spawn


@pytest.fixture(params=["redis", "nats"])
def broker(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    with redis_server(appendonly=False) if request.param == "redis" else nats_server() as s:
        yield s


def instance(url: str) -> RunningServer:
    server = spawn("tests.websocket.app:app", env={"WS_TEST_CHANNELS": url})
    if not server.ready.wait(30) or server.proc.poll() is not None:
        server.stop()
        raise AssertionError(f"server did not start; log:\n{server.log}")
    return server


@contextlib.contextmanager
def join(server: RunningServer, room: str) -> Iterator[ClientConnection]:
    url = f"ws://127.0.0.1:{server.port}/room/{room}"
    with connect(url, proxy=None, open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "joined"
        yield ws


def test_a_broadcast_reaches_the_other_instance(broker: LocalServer) -> None:
    url = f"{broker.url}?prefix=t{uuid.uuid4().hex[:10]}.ws"
    one, two = instance(url), instance(url)
    try:
        with join(one, "lobby") as here, join(two, "lobby") as there:
            here.send("hello")
            message = {"from": "lobby", "text": "hello"}
            assert msgspec.json.decode(there.recv(timeout=10)) == message
            assert msgspec.json.decode(here.recv(timeout=10)) == message
            there.send("back")  # and the other way, after the first: once each
            back = {"from": "lobby", "text": "back"}
            assert msgspec.json.decode(here.recv(timeout=10)) == back
            assert msgspec.json.decode(there.recv(timeout=10)) == back
    finally:
        codes = [one.stop(timeout=15), two.stop(timeout=15)]
    assert codes == [0, 0], one.log + two.log
