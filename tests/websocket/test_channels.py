"""`covetpy.websocket.channels`: broadcasts between instances over real redis-server and
nats-server processes (each on a free loopback port, `make services` installs them) and in
memory."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from covetpy.events.testing import LocalServer, nats_server, redis_server
from covetpy.exceptions import ConfigError, MissingExtra
from covetpy.websocket.channels import (
    MAX_TOPIC_BYTES,
    Channels,
    MemoryChannels,
    NatsChannels,
    RedisChannels,
    channels_for,
    subject_token,
)
from tests.events.harness import run, until

Received = list[tuple[str, str | bytes]]


@pytest.fixture(scope="module", params=["redis", "nats"])
def server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """One server per broker for the module; each test takes a prefix of its own."""
    with redis_server(appendonly=False) if request.param == "redis" else nats_server() as s:
        yield s


def isolated(server: LocalServer) -> str:
    """A channels URL on `server` that no other test shares."""
    return f"{server.url}?prefix=t{uuid.uuid4().hex[:10]}.ws"


@asynccontextmanager
async def started(url: str, n: int) -> AsyncIterator[list[tuple[Channels, Received]]]:
    """`n` started instances on `url`, each with the list its deliveries go to."""
    out: list[tuple[Channels, Received]] = []
    try:
        for _ in range(n):
            channels = channels_for(url)
            received: Received = []

            def deliver(topic: str, data: str | bytes, received: Received = received) -> None:
                received.append((topic, data))

            await channels.start(deliver)
            out.append((channels, received))
        yield out
    finally:
        for channels, _ in out:
            await channels.close()


def test_instances_see_each_others_publishes_and_not_their_own(server: LocalServer) -> None:
    async def main() -> tuple[Received, Received, Received]:
        async with started(isolated(server), 3) as [(a, got_a), (b, got_b), (_, got_c)]:
            await a.publish("room:1", "from a")
            await b.publish("room:2", b"from b")
            await until(lambda: len(got_c) == 2, 10, "both broadcasts at c")
            await until(lambda: bool(got_a and got_b), 10, "the other's broadcast at a and b")
            await b.publish("room:2", "end")  # after it reached a, a's own echo would have too
            await until(lambda: len(got_a) == 2, 10, "b's second broadcast at a")
            return got_a, got_b, got_c

    got_a, got_b, got_c = run(main())
    assert got_a == [("room:2", b"from b"), ("room:2", "end")]
    assert got_b == [("room:1", "from a")]
    assert sorted(got_c[:2], key=repr) == [("room:1", "from a"), ("room:2", b"from b")]
    assert got_c[2] == ("room:2", "end")


def test_text_and_binary_kinds_are_kept(server: LocalServer) -> None:
    messages: list[str | bytes] = ["", b"", "héllo ✓", b"\x00\xff", "1", b"1", b"\x00" * 70_000]

    async def main() -> Received:
        async with started(isolated(server), 2) as [(a, _), (_, got)]:
            for m in messages:
                await a.publish("kinds", m)
            await until(lambda: len(got) == len(messages), 10, "every message")
            return got

    got = run(main())
    assert [data for _, data in got] == messages
    assert [type(data) for _, data in got] == [type(m) for m in messages]


def test_order_of_one_publishers_broadcasts_is_kept(server: LocalServer) -> None:
    async def main() -> Received:
        async with started(isolated(server), 2) as [(a, _), (_, got)]:
            # Concurrent publishes too: the order is the order of the calls.
            await asyncio.gather(*(a.publish("seq", str(n)) for n in range(500)))
            for n in range(500, 1000):
                await a.publish("seq", str(n))
            await until(lambda: len(got) == 1000, 20, "1,000 broadcasts")
            return got

    got = run(main())
    assert [data for _, data in got] == [str(n) for n in range(1000)]


@pytest.mark.parametrize("topic", ["room:42 a.b*>", "ä/ü.*", "%41", ">", "x" * MAX_TOPIC_BYTES])
def test_topics_with_odd_characters_round_trip(server: LocalServer, topic: str) -> None:
    async def main() -> Received:
        async with started(isolated(server), 2) as [(a, _), (_, got)]:
            await a.publish(topic, "odd")
            await a.publish("plain", "next")
            await until(lambda: len(got) == 2, 10, "both broadcasts")
            return got

    assert run(main()) == [(topic, "odd"), ("plain", "next")]


def test_a_nats_subject_token_has_no_dots_wildcards_or_spaces() -> None:
    token = subject_token("room:42 a.b*>")
    assert token == "room:42%20a%2Eb%2A%3E"
    assert subject_token("%") == "%25"


def test_instances_on_other_prefixes_do_not_see_each_other(server: LocalServer) -> None:
    async def main() -> tuple[Received, Received]:
        async with (
            started(isolated(server), 1) as [(a, got_a)],
            started(isolated(server), 2) as [(b, _), (_, got_c)],
        ):
            await a.publish("t", "a")
            await b.publish("t", "b")
            await until(lambda: bool(got_c), 10, "b's broadcast")
            return got_a, got_c

    got_a, got_c = run(main())
    assert got_a == [] and got_c == [("t", "b")]


def test_a_failing_deliver_does_not_end_the_subscription(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> list[str | bytes]:
        url = isolated(server)
        got: list[str | bytes] = []

        def deliver(topic: str, data: str | bytes) -> None:
            if data == "boom":
                raise RuntimeError("boom")
            got.append(data)

        async with started(url, 1) as [(a, _)]:
            b = channels_for(url)
            await b.start(deliver)
            try:
                await a.publish("t", "boom")
                await a.publish("t", "after")
                await until(lambda: bool(got), 10, "the broadcast after the failure")
            finally:
                await b.close()
        return got

    assert run(main()) == ["after"]
    assert "delivering a broadcast on 't' failed" in caplog.text


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_the_subscription_comes_back_after_the_server_restarts(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "covetpy.websocket")
    with redis_server(appendonly=False) if kind == "redis" else nats_server() as server:

        async def main() -> Received:
            async with started(server.url, 2) as [(a, _), (_, got)]:
                await a.publish("t", "before")
                await until(lambda: bool(got), 10, "the first broadcast")
                await asyncio.to_thread(server.restart)
                await until(lambda: "dropped" in caplog.text, 20, "the warning")
                await until(lambda: "is back" in caplog.text, 30, "the reconnection")

                # Lost while the subscriber was away (at most once); the publisher's own
                # connection may need a retry of its own to come back.
                async def delivered() -> bool:
                    try:
                        await a.publish("t", "after")
                    except Exception:
                        return False
                    await asyncio.sleep(0.05)
                    return any(data == "after" for _, data in got)

                for _ in range(200):
                    if await delivered():
                        break
                return got

        got = run(main(), timeout=60)
    assert got[0] == ("t", "before") and ("t", "after") in got


def test_memory_instances_of_one_url_see_each_other() -> None:
    async def main() -> tuple[Received, Received, Received]:
        async with (
            started("memory://one", 2) as [(a, got_a), (_, got_b)],
            started("memory://two", 1) as [(_, got_other)],
        ):
            for n in range(100):
                await a.publish("t", str(n))
            await a.publish("t", b"bin")
            await until(lambda: len(got_b) == 101, 10, "every broadcast")
            return got_a, got_b, got_other

    got_a, got_b, got_other = run(main())
    assert got_a == [] and got_other == []
    assert got_b == [("t", str(n)) for n in range(100)] + [("t", b"bin")]
    assert "memory://one" not in MemoryChannels._hubs  # closing forgot them


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:1", RedisChannels),
        ("rediss://h:6380/0", RedisChannels),
        ("unix:///tmp/redis.sock", RedisChannels),
        ("nats://127.0.0.1:1", NatsChannels),
        ("tls://h:4222", NatsChannels),
        ("memory://x", MemoryChannels),
    ],
)
def test_each_scheme_picks_its_broker(url: str, kind: type[Channels]) -> None:
    assert type(channels_for(url)) is kind


@pytest.mark.parametrize("url", ["amqp://u:secret@h/", "http://h", "localhost:6379", ""])
def test_an_unknown_scheme_is_a_config_error_naming_the_schemes(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        channels_for(url)
    text = str(caught.value)
    assert "redis://" in text and "nats://" in text and "memory://" in text
    assert "secret" not in text


def test_a_bad_nats_prefix_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NATS subject"):
        channels_for("nats://127.0.0.1:1?prefix=a..b")


@pytest.mark.parametrize("topic", ["", "x" * (MAX_TOPIC_BYTES + 1), "é" * 129, "\ud800"])
def test_an_empty_or_long_topic_is_refused(topic: str) -> None:
    async def main() -> None:
        async with started("memory://limits", 1) as [(a, _)]:
            await a.publish(topic, "x")

    with pytest.raises(ValueError):
        run(main())


def test_a_message_that_is_not_str_or_bytes_is_refused() -> None:
    async def main() -> None:
        async with started("memory://types", 1) as [(a, _)]:
            await a.publish("t", 42)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match=r"str \(text\) or bytes"):
        run(main())


def test_publishing_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        run(channels_for("memory://early").publish("t", "x"))


@pytest.mark.parametrize(
    ("url", "module"), [("redis://127.0.0.1:1", "redis.asyncio"), ("nats://127.0.0.1:1", "nats")]
)
def test_without_the_client_library_the_events_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    with pytest.raises(MissingExtra) as caught:
        channels_for(url)
    assert caught.value.extra == "events"
    assert "WebSocket channels over" in str(caught.value)
