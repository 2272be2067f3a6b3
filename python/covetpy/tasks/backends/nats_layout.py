"""The streams and KV buckets of the NATS task broker, made by whichever process connects
first (every process checks; making one twice is harmless)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from covetpy.exceptions import ConfigError

try:
    import nats.js.errors
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
except ImportError:  # without the tasks extra the module imports; NatsBroker() names it
    pass

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue

__all__ = ["ensure_bucket", "ensure_stream"]


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subject: str,
    retention: RetentionPolicy,
    max_msgs: int = -1,
) -> None:
    """Creates the file-storage stream `name` on `subject` unless it exists. One that exists
    on other subjects is a `ConfigError`: the publishes would go nowhere, or to someone else's
    stream."""
    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        config = StreamConfig(
            name=name,
            subjects=[subject],
            storage=StorageType.FILE,
            retention=retention,
            max_msgs=max_msgs,
            discard=DiscardPolicy.OLD,
        )
        try:
            await js.add_stream(config)
            return
        except nats.js.errors.BadRequestError:  # made meanwhile by another process
            info = await js.stream_info(name)
    if info.config.subjects != [subject]:
        raise ConfigError(
            f"tasks: the JetStream stream {name} exists on {info.config.subjects}, not "
            f"[{subject!r}]: choose another ?stream= or the ?prefix= it was made with"
        )


async def ensure_bucket(js: JetStreamContext, name: str, ttl: float) -> KeyValue:
    """The KV bucket `name` (one value per key), its entries expiring after `ttl` seconds; a
    bucket made with another TTL gets this one (the last process to connect sets it)."""
    try:
        info = await js.stream_info(f"KV_{name}")
    except nats.js.errors.NotFoundError:
        try:
            return await js.create_key_value(
                bucket=name, history=1, ttl=ttl, storage=StorageType.FILE
            )
        except nats.js.errors.BadRequestError:  # made meanwhile by another process
            return await js.key_value(name)
    if info.config.max_age != ttl:
        info.config.max_age = ttl
        info.config.duplicate_window = min(120.0, ttl)
        await js.update_stream(info.config)
    return await js.key_value(name)
