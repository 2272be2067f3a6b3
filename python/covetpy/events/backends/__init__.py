"""Backends, chosen by the scheme of the bus URL: `memory://` (in-process, the default),
`redis://` and `rediss://` (Redis Streams), `nats://` and `tls://` (NATS JetStream).

The Redis and NATS clients are imported only when a URL asks for them (`pip install
'covetpy[events]'`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from covetpy.events.backends.base import (
    Backend,
    Consumer,
    ConsumerSpec,
    Delivery,
    Published,
    Record,
)
from covetpy.exceptions import ConfigError

__all__ = [
    "Backend",
    "Consumer",
    "ConsumerSpec",
    "Delivery",
    "Published",
    "Record",
    "backend_for",
]


def backend_for(url: str) -> Backend:
    """The backend for `url` (not connected yet); ConfigError for a scheme none serves."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from covetpy.events.backends.memory import MemoryBackend

        return MemoryBackend(url)
    if scheme in ("redis", "rediss", "unix"):
        from covetpy.events.backends.redis import RedisBackend

        return RedisBackend(url)
    if scheme in ("nats", "tls"):
        from covetpy.events.backends.nats import NatsBackend

        return NatsBackend(url)
    raise ConfigError(f"no event backend for {url!r}: use memory://, redis:// or nats://")
