"""Broadcasts between worker processes and hosts: what `App(channels="redis://…")` configures.

`app.broadcast(topic, data)` first fans the message out to this worker's own sockets (in Rust,
`Server.broadcast`), then publishes it here once. Every other worker, on this host or another,
receives it from the broker and fans it out to its sockets. A worker never receives its own
publishes back: its local fan-out already happened.

- `redis://`, `rediss://`, `unix://`: Redis PUBLISH to the channel `<prefix>.<topic>`, one
  PSUBSCRIBE `<prefix>.*` per worker. Redis pub/sub channels are server-wide (the `/db` of the URL
  does not separate them): two applications on one Redis keep apart with `?prefix=`.
- `nats://`, `tls://`: NATS core subjects (no JetStream), `<prefix>.<topic escaped>`: the topic is
  one subject token, every byte outside `A-Z a-z 0-9 - _ :` written `%XX` (`.`, `*`, `>` and
  spaces have meanings in subjects). The connection is made with `no_echo`, so the server does not
  even send a worker its own publishes.
- `memory://<name>`: in-process, for tests; instances made from the same URL see each other.

`?prefix=` defaults to `covetpy.ws`. The message is a compact binary envelope: one byte of kind
(0 text, 1 binary), the 16-byte id of the publishing instance, then the payload (text in UTF-8).

Delivery is at most once: Redis pub/sub and NATS core keep nothing. A broadcast published while a
worker's subscription is down (its connection dropped, the broker restarting) never reaches that
worker's sockets; the subscriber logs a warning and reconnects with backoff. Order per topic from
one publisher is kept: each instance publishes on one connection, in call order. A broadcast
larger than the broker allows (NATS `max_payload`, 1 MiB by default; Redis 512 MiB) makes
`publish` raise the client's error.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import random
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from covetpy.exceptions import ConfigError, require

__all__ = [
    "DEFAULT_PREFIX",
    "MAX_TOPIC_BYTES",
    "Channels",
    "Deliver",
    "MemoryChannels",
    "NatsChannels",
    "RedisChannels",
    "channels_for",
    "check_topic",
    "subject_token",
]

logger = logging.getLogger("covetpy.websocket")

Deliver = Callable[[str, str | bytes], None]
"""Called with (topic, data) for each broadcast another instance published."""

# A topic travels in every message's channel name; 256 bytes keeps a NATS subject with every
# byte escaped (3 * 256) far below the server's 4 KiB control-line limit.
MAX_TOPIC_BYTES = 256
DEFAULT_PREFIX = "covetpy.ws"

_TEXT = 0
_BINARY = 1
_ORIGIN_BYTES = 16
_HEADER_BYTES = 1 + _ORIGIN_BYTES

# Reconnect delays of the Redis subscriber: 0.1 s doubling to 5 s, back to 0.1 s after a
# subscription that lasted _STABLE seconds (so a flapping server is not hammered).
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_STABLE = 10.0

T = TypeVar("T")


def check_topic(topic: str) -> bytes:
    """`topic` in UTF-8; ValueError when it is empty or longer than `MAX_TOPIC_BYTES` bytes."""
    if not isinstance(topic, str):
        raise TypeError(f"a broadcast topic is a str, not {type(topic).__name__}")
    raw = topic.encode()  # a lone surrogate raises UnicodeEncodeError, a ValueError
    if not raw:
        raise ValueError("a broadcast topic cannot be empty")
    if len(raw) > MAX_TOPIC_BYTES:
        raise ValueError(
            f"a broadcast topic is at most {MAX_TOPIC_BYTES} bytes in UTF-8, "
            f"got {len(raw)} ({topic[:32]!r}…)"
        )
    return raw


def _encode(origin: bytes, data: str | bytes) -> bytes:
    if isinstance(data, str):
        return bytes((_TEXT,)) + origin + data.encode()
    return bytes((_BINARY,)) + origin + data


def _decode(payload: bytes) -> tuple[bytes, str | bytes] | None:
    """(origin, data) of an envelope; None for one this version cannot read."""
    if len(payload) < _HEADER_BYTES or payload[0] not in (_TEXT, _BINARY):
        return None
    origin = payload[1:_HEADER_BYTES]
    body = payload[_HEADER_BYTES:]
    if payload[0] == _BINARY:
        return origin, body
    try:
        return origin, body.decode()
    except UnicodeDecodeError:
        return None


def _as_message(data: str | bytes) -> str | bytes:
    if isinstance(data, str | bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"a broadcast is str (text) or bytes (binary), not {type(data).__name__}")


class Channels(abc.ABC):
    """Broadcasts of one worker process to and from the others (see the module docstring).

    At most once: what is published while an instance is disconnected never reaches it.
    """

    def __init__(self) -> None:
        # Tells this instance's messages from the others' when the broker echoes them.
        self.origin = os.urandom(_ORIGIN_BYTES)
        self._deliver: Deliver | None = None

    @abc.abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Connects and subscribes to every broadcast; from then on `deliver(topic, data)` is
        called on this event loop for each broadcast another instance publishes. Raises if the
        broker cannot be reached now (a wrong URL shows at startup, not at the first message)."""

    async def publish(self, topic: str, data: str | bytes) -> None:
        """Sends `data` (str: a text message, bytes: binary) to every other instance's
        subscribers of `topic`, after the ones published before it by this instance."""
        check_topic(topic)
        await self._publish(topic, _as_message(data))

    @abc.abstractmethod
    async def _publish(self, topic: str, data: str | bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Unsubscribes and disconnects; calling it again does nothing."""

    def _received(self, topic: str, payload: bytes) -> None:
        """Hands a message from the broker to `deliver`, unless this instance published it."""
        decoded = _decode(payload)
        if decoded is None:
            logger.debug("skipped a broadcast on %r this version cannot read", topic)
            return
        origin, data = decoded
        if origin != self.origin:
            self._hand(topic, data)

    def _hand(self, topic: str, data: str | bytes) -> None:
        if self._deliver is None:
            return
        try:
            self._deliver(topic, data)
        except Exception:  # one failing delivery must not end the subscription
            logger.exception("delivering a broadcast on %r failed", topic)

    def _started(self) -> None:
        if self._deliver is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")


class _InOrder(Generic[T]):
    """Sends what callers queue in call order, a batch (one pipeline) at a time.

    The next batch is written once the broker answered the previous one: two batches never
    travel on two pooled connections at once, where the second could overtake the first. The
    publishes queued while one batch is in flight make the next batch.
    """

    def __init__(self, send: Callable[[list[T]], Awaitable[None]], limit: int = 512) -> None:
        self._send = send
        self._limit = limit
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, waiter))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        # Not shielded: a caller cancelled here leaves its message queued (sent or not, as
        # at-most-once allows) and the waiter done, which the drain then skips.
        await waiter

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch = self._queue[: self._limit]
                del self._queue[: self._limit]
                try:
                    await self._send([item for item, _ in batch])
                except Exception as exc:
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
                batch = []
        finally:
            self._task = None
            # Cancelled by close(): nobody waits forever for what was not sent.
            _settle(batch + self._queue, asyncio.CancelledError())
            self._queue = []

    async def aclose(self, timeout: float = 5.0) -> None:
        """Waits (up to `timeout`) for the queued messages to be sent, then stops."""
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _settle(batch: list[tuple[Any, asyncio.Future[None]]], exc: BaseException | None) -> None:
    for _, waiter in batch:
        if waiter.done():
            continue
        if exc is None:
            waiter.set_result(None)
        elif isinstance(exc, asyncio.CancelledError):
            waiter.cancel()
        else:
            waiter.set_exception(exc)


class MemoryChannels(Channels):
    """`memory://<name>`: the instances of one process made from the same URL, for tests."""

    _hubs: ClassVar[dict[str, list[MemoryChannels]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        with self._lock:
            self._hubs.setdefault(self.url, []).append(self)

    async def _publish(self, topic: str, data: str | bytes) -> None:
        self._started()
        with self._lock:
            peers = [p for p in self._hubs.get(self.url, ()) if p is not self]
        for peer in peers:
            peer._post(topic, data)

    def _post(self, topic: str, data: str | bytes) -> None:
        # Through the peer's loop even on this one: delivery stays asynchronous as with a
        # broker, in publish order (the loop runs callbacks first in, first out).
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._hand, topic, data)
        except RuntimeError:  # its loop closed meanwhile
            pass

    async def close(self) -> None:
        with self._lock:
            peers = self._hubs.get(self.url, [])
            if self in peers:
                peers.remove(self)
            if not peers:
                self._hubs.pop(self.url, None)
        self._deliver = None
        self._loop = None


def _split_prefix(url: str) -> tuple[str, str]:
    """(the URL without `prefix=`, the prefix ending in a dot)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = DEFAULT_PREFIX
    rest = []
    for key, value in query:
        if key == "prefix":
            prefix = value
        else:
            rest.append((key, value))
    if not prefix:
        raise ConfigError("channels: ?prefix= cannot be empty")
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix + "."


_GLOB = re.compile(r"([*?\[\]\\])")


class RedisChannels(Channels):
    """Redis pub/sub (see the module docstring)."""

    def __init__(self, url: str) -> None:
        require("WebSocket channels over Redis", "events", "redis.asyncio")
        super().__init__()
        self._address, self.prefix = _split_prefix(url)
        self._channel_prefix = self.prefix.encode()
        self._pattern = _GLOB.sub(r"\\\1", self.prefix) + "*"
        self._client: Any = None  # publishes; redis-py's annotations are read as Any
        self._subscriber: Any = None  # its own connection, which redis-py does not retry
        self._sender: _InOrder[tuple[bytes, bytes]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, deliver: Deliver) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._deliver = deliver
        self._client = aioredis.from_url(self._address)
        # No retries inside redis-py: a dropped subscription surfaces here, is logged, and is
        # made again by _listen. The health check PINGs an idle subscription every 10 s.
        self._subscriber = aioredis.from_url(
            self._address,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=10,
            socket_keepalive=True,
        )
        self._sender = _InOrder(self._send)
        try:
            pubsub = await self._subscribe()
        except BaseException:
            await self.close()
            raise
        self._task = asyncio.create_task(self._listen(pubsub), name="covetpy-ws-channels")

    async def _subscribe(self) -> Any:
        """A PubSub whose PSUBSCRIBE the server confirmed: from its return on, every publish
        by another instance reaches it."""
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.psubscribe(self._pattern)
            while True:
                message = await pubsub.get_message(timeout=10.0)
                if message is None:
                    raise TimeoutError("Redis did not confirm PSUBSCRIBE within 10 s")
                if message["type"] == "psubscribe":
                    return pubsub
        except BaseException:
            await _close_quietly(pubsub)
            raise

    async def _listen(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        delay = _BACKOFF_FIRST
        while True:
            since = loop.time()
            try:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None and message["type"] == "pmessage":
                        self._on_message(message["channel"], message["data"])
            except asyncio.CancelledError:
                await _close_quietly(pubsub)
                raise
            except Exception as exc:
                logger.warning(
                    "the Redis subscription of the WebSocket channels dropped (%s: %s); "
                    "reconnecting: broadcasts from other workers are lost until then",
                    type(exc).__name__,
                    exc,
                )
            await _close_quietly(pubsub)
            if loop.time() - since >= _STABLE:
                delay = _BACKOFF_FIRST
            while True:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # jitter
                delay = min(delay * 2, _BACKOFF_MAX)
                try:
                    pubsub = await self._subscribe()
                except Exception as exc:
                    logger.debug("resubscribing to Redis failed: %s", exc)
                    continue
                logger.warning("the Redis subscription of the WebSocket channels is back")
                break

    def _on_message(self, channel: bytes, payload: bytes) -> None:
        if not channel.startswith(self._channel_prefix):
            return
        try:
            topic = channel[len(self._channel_prefix) :].decode()
        except UnicodeDecodeError:
            return
        self._received(topic, payload)

    async def _publish(self, topic: str, data: str | bytes) -> None:
        if self._sender is None:
            self._started()
            raise RuntimeError("the Redis channels are closed")
        await self._sender((self._channel_prefix + topic.encode(), _encode(self.origin, data)))

    async def _send(self, batch: list[tuple[bytes, bytes]]) -> None:
        if len(batch) == 1:
            await self._client.publish(*batch[0])
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, payload in batch:
                pipe.publish(channel, payload)
            await pipe.execute()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.aclose()
        for client in (self._client, self._subscriber):
            if client is not None:
                await _close_quietly(client)
        self._client = self._subscriber = None
        self._deliver = None


async def _close_quietly(closable: Any) -> None:
    try:
        await closable.aclose()
    except Exception as exc:  # closing goes on without the server
        logger.debug("closing a Redis connection failed: %s", exc)


_SUBJECT_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:")
_NOT_IN_TOKENS = re.compile(r"[\s*>]")


def subject_token(topic: str) -> str:
    """`topic` as one NATS subject token: bytes outside `A-Z a-z 0-9 - _ :` become `%XX`."""
    return "".join(chr(b) if b in _SUBJECT_SAFE else f"%{b:02X}" for b in topic.encode())


class NatsChannels(Channels):
    """NATS core subjects (see the module docstring). nats-py reconnects by itself, every
    0.5 s with jitter, forever, and subscribes again; the drop and the return are logged."""

    def __init__(self, url: str) -> None:
        require("WebSocket channels over NATS", "events", "nats")
        super().__init__()
        address, self.prefix = _split_prefix(url)
        if any(not t or _NOT_IN_TOKENS.search(t) for t in self.prefix[:-1].split(".")):
            raise ConfigError(
                f"channels: ?prefix={self.prefix[:-1]!r} is not a NATS subject "
                "(dot-separated tokens without spaces, '*' or '>')"
            )
        self._server = urlunsplit(urlsplit(address)._replace(query=""))
        self._nc: Any = None

    async def start(self, deliver: Deliver) -> None:
        import nats

        self._deliver = deliver
        self._nc = await nats.connect(
            servers=[self._server],
            name="covetpy-ws-channels",
            no_echo=True,
            connect_timeout=2,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        try:
            await self._nc.subscribe(self.prefix + "*", cb=self._on_message)
            # Two round trips so that start() returns with the subscription registered: nats-py
            # (2.16) writes flush()'s PING straight to the socket, ahead of the SUB still in its
            # pending buffer, so one PONG proves nothing (1 start in 8 missed the next message).
            # Its flusher task writes the SUB while the first PING travels; the second follows it.
            await self._nc.flush()
            await self._nc.flush()
        except BaseException:
            await self.close()
            raise

    async def _on_message(self, msg: Any) -> None:
        subject: str = msg.subject
        try:
            topic = unquote(subject[len(self.prefix) :], errors="strict")
        except UnicodeDecodeError:  # not escaped by this module: someone else's message
            return
        self._received(topic, msg.data)

    async def _on_error(self, exc: Exception) -> None:
        # Also called for each failed reconnect attempt (every 0.5 s): not worth a warning each.
        logger.debug("NATS (WebSocket channels): %s: %s", type(exc).__name__, exc)

    async def _on_disconnected(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            logger.warning(
                "the NATS connection of the WebSocket channels dropped; reconnecting: "
                "broadcasts from other workers are lost until then"
            )

    async def _on_reconnected(self) -> None:
        logger.warning("the NATS connection of the WebSocket channels is back")

    async def _publish(self, topic: str, data: str | bytes) -> None:
        if self._nc is None:
            self._started()
            raise RuntimeError("the NATS channels are closed")
        await self._nc.publish(self.prefix + subject_token(topic), _encode(self.origin, data))

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        self._deliver = None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()  # sends what is still buffered, then closes
        except Exception as exc:
            logger.debug("draining the NATS connection failed: %s", exc)
            await nc.close()


_SCHEMES: dict[str, Callable[[str], Channels]] = {
    "redis": RedisChannels,
    "rediss": RedisChannels,
    "unix": RedisChannels,
    "nats": NatsChannels,
    "tls": NatsChannels,
    "memory": MemoryChannels,
}


def channels_for(url: str) -> Channels:
    """The `Channels` for `url`; ConfigError for a scheme none of them serves, and
    MissingExtra (the `events` extra) when Redis or NATS is asked for without its client."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    factory = _SCHEMES.get(scheme)
    if factory is None:
        # Only the scheme is echoed: the rest of the URL may hold a password.
        raise ConfigError(
            f"channels URL: unknown scheme {scheme + '://' if scheme else '(none)'}; "
            "use redis://, rediss://, unix:// (Redis pub/sub), nats://, tls:// (NATS) "
            "or memory:// (one process)"
        )
    return factory(url)
