"""What travels through the broker: one msgpack-encoded `Message` per task run.

The arguments stay encoded (`msgspec.Raw`) inside the message, so a worker decodes them once,
straight into the task's argument type, and a message whose task it does not know can still be
read, dead-lettered and shown by `covetpy tasks`.
"""

from __future__ import annotations

import msgspec

__all__ = ["Message", "Outcome", "decode", "encode"]


class Message(msgspec.Struct, kw_only=True, omit_defaults=True, array_like=True):
    """One run of a task. `array_like`: the field names are not repeated in every message
    (a 1 KiB-argument message is 1.1 KiB on the wire)."""

    id: str
    task: str
    args: msgspec.Raw
    queue: str = "default"
    priority: int = 0
    enqueued: float = 0.0
    """Unix time of the enqueue (the enqueue-to-start latency is measured from it)."""
    attempt: int = 1
    """Which run this is: 1 the first, 2 the first retry."""
    due: float = 0.0
    """Unix time before which it must not start (0: at once)."""
    key: str | None = None
    requestid: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    reason: str | None = None
    """Why it is a dead letter (dead letters only)."""


class Outcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What `handle.result()` reads: the return value (encoded) or why the task failed."""

    ok: bool
    value: msgspec.Raw = msgspec.Raw(b"\xc0")
    error: str | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """The message in `data`; `msgspec.DecodeError` or `ValidationError` for a poison one."""
    return _decoder.decode(data)
