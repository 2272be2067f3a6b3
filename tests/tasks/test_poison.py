"""Whatever bytes arrive as a message, the worker dead-letters them with a reason and keeps
running (hypothesis, on the memory broker: the worker's decoding is the same on every broker)."""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from covetpy import App
from covetpy.tasks.backends.base import Outgoing
from covetpy.tasks.message import Message, encode
from tests.events.harness import run

messages = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda task, args: encode(Message(id="x", task=task, args=msgspec.Raw(args))),
        st.sampled_from(["add", "nope", ""]),
        st.one_of(
            st.binary(max_size=40),
            st.dictionaries(
                st.text(max_size=5), st.integers(-(2**63), 2**63) | st.text(max_size=5)
            ).map(msgspec.msgpack.encode),
        ),
    ),
)


@settings(max_examples=150, deadline=None)
@given(data=st.lists(messages, min_size=1, max_size=8))
def test_garbage_becomes_dead_letters_and_the_worker_goes_on(data: list[bytes]) -> None:
    app = App(tasks="memory://")
    ran: list[int] = []

    @app.task(name="add", retries=0)
    async def add(a: int, b: int = 0) -> None:
        ran.append(a + b)

    async def go() -> None:
        await app.tasks.start(["default"], concurrency=4)
        broker = app.tasks.broker
        for i, d in enumerate(data):
            await broker.enqueue(Outgoing(f"g{i}", "default", 0, d))
        await add.enqueue(1, b=1)
        while 2 not in ran:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        stats = (await broker.stats(["default"]))[0]
        assert stats.ready == stats.running == 0
        dead = await broker.dead_letters("default", 100)
        # Each garbage message either ran (a valid `add` call) or is a dead letter with a reason.
        assert len(dead) + len(ran) - 1 == len(data)
        assert all(d.reason for d in dead)
        await app.tasks.close()

    run(go(), timeout=20)
