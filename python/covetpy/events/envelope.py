"""The CloudEvents 1.0 envelope every event travels in: structured-mode JSON, encoded and
decoded by msgspec.

```json
{"specversion": "1.0", "id": "7f0c…", "source": "/orders", "type": "orders.created",
 "time": "2026-11-22T10:00:00.123456Z", "datacontenttype": "application/json",
 "data": {"order_id": 42}, "partitionkey": "42", "requestid": "…", "traceparent": "00-…"}
```

The required attributes are those of the CloudEvents 1.0 spec; `type` is the topic. The
extensions are those of the CloudEvents Partitioning (`partitionkey`) and Distributed Tracing
(`traceparent`, `tracestate`) extensions, plus `requestid`; an event that was dead-lettered
also carries `deadletterreason`, `deadlettergroup` and `deliveries`. Extension names follow
the spec's rule: lower-case letters and digits, at most 20 characters.

`data` stays undecoded (`msgspec.Raw`) until a handler's annotation says what to decode it
into, so a consumer decodes each event's payload once, straight into the handler's type.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["Envelope", "decode_envelope", "encode_data", "encode_envelope", "new_id"]

SPECVERSION = "1.0"


def _specversion() -> str:
    return SPECVERSION


def _json() -> str:
    return "application/json"


class Envelope(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One event as stored by a backend (CloudEvents 1.0, structured JSON).

    `specversion` and `datacontenttype` have default factories rather than defaults, so that
    `omit_defaults` (which leaves out the extensions not set) still writes them."""

    specversion: str = msgspec.field(default_factory=_specversion)
    id: str
    source: str
    type: str
    time: datetime
    datacontenttype: str = msgspec.field(default_factory=_json)
    data: msgspec.Raw = msgspec.Raw(b"null")
    partitionkey: str | None = None
    requestid: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    deadletterreason: str | None = None
    deadlettergroup: str | None = None
    deliveries: int | None = None

    @property
    def topic(self) -> str:
        """The topic the event was published to (the CloudEvents `type`)."""
        return self.type

    def decode(self, into: builtins.type[Any] = object) -> Any:
        """The payload decoded into `into` (plain JSON values for `object`)."""
        if into is object:
            return msgspec.json.decode(self.data)
        return msgspec.json.decode(self.data, type=into)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)


def new_id() -> str:
    """A fresh event id (a random UUID, as text)."""
    return str(uuid.uuid4())


def now() -> datetime:
    """The current time in UTC, as the envelope's `time`."""
    return datetime.now(UTC)


def encode_data(value: Any) -> msgspec.Raw:
    """The JSON of an event payload, ready to be placed in `Envelope.data`."""
    if isinstance(value, msgspec.Raw):
        return value
    return msgspec.Raw(_encoder.encode(value))


def encode_envelope(envelope: Envelope) -> bytes:
    """The envelope as structured-mode CloudEvents JSON."""
    return _encoder.encode(envelope)


def decode_envelope(body: bytes | memoryview) -> Envelope:
    """Parses structured-mode CloudEvents JSON; raises `msgspec.DecodeError` (or
    `msgspec.ValidationError`) for anything else."""
    envelope = _decoder.decode(body)
    if envelope.specversion != SPECVERSION:
        raise msgspec.ValidationError(f"unsupported CloudEvents specversion {envelope.specversion}")
    return envelope
