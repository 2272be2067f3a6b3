"""`app.broadcast` wiring: this worker's fan-out goes to its Rust server, and with
`App(channels=url)` to the other instances, which hand it to their own servers. Stand-in
servers record the calls (the fan-out itself is Rust's, tested end to end)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest

from covetpy import App
from covetpy.exceptions import ConfigError


class RecordingServer:
    def __init__(self, subscribers: int = 2) -> None:
        self.calls: list[tuple[str, str | bytes]] = []
        self.subscribers = subscribers
        self.delivered = asyncio.Event()

    def broadcast(self, topic: str, data: str | bytes, defer: bool = False) -> int:
        self.calls.append((topic, data))
        self.delivered.set()
        return self.subscribers

    def wake_broadcasts(self) -> int:
        self.woken = getattr(self, "woken", 0) + 1
        return 0


def serving(app: App, server: RecordingServer) -> App:
    app.attach_server(cast(Any, server))
    return app


def test_broadcast_goes_to_this_workers_server() -> None:
    async def main() -> None:
        server = RecordingServer(subscribers=3)
        app = serving(App(), server)
        assert await app.broadcast("room:1", "text") == 3
        await app.broadcast("room:1", b"\x00")
        await app.broadcast("room:1", {"n": [1, 2]})
        assert server.calls == [("room:1", "text"), ("room:1", b"\x00"), ("room:1", '{"n":[1,2]}')]

    asyncio.run(main())


def test_broadcast_without_a_server_reaches_nobody() -> None:
    assert asyncio.run(App().broadcast("t", "x")) == 0


def test_channels_carry_broadcasts_to_the_other_instances() -> None:
    url = f"memory://ws-{uuid.uuid4().hex}"

    async def main() -> None:
        here, there = RecordingServer(), RecordingServer()
        one = serving(App(channels=url), here)
        two = serving(App(channels=url), there)
        await one.startup()
        await two.startup()
        try:
            await one.broadcast("room:1", {"hello": "all"})
            await asyncio.wait_for(there.delivered.wait(), 10)
            assert here.calls == [("room:1", '{"hello":"all"}')]
            assert there.calls == [("room:1", '{"hello":"all"}')]  # once: not echoed back
        finally:
            await one.shutdown()
            await two.shutdown()
        assert one._channels is None and one._server is None

    asyncio.run(main())


def test_a_bad_channels_url_fails_the_startup() -> None:
    app = serving(App(channels="carrier-pigeon://coop"), RecordingServer())
    with pytest.raises(ConfigError, match="unknown scheme"):
        asyncio.run(app.startup())
