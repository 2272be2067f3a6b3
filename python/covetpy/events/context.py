"""Context carried from a request into the events it publishes, and from an event into the
events its handler publishes.

`EventBus.publish` copies `request_id` and `traceparent` into the envelope when they are set;
while a handler runs, the bus sets them (and `envelope`, `attempt`) from the event being
handled, so a chain of events keeps the request id and trace of the request that started it.
Middleware that knows the request id or W3C trace context of a request sets them here.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from covetpy.events.envelope import Envelope

__all__ = ["attempt", "envelope", "request_id", "traceparent"]

request_id: ContextVar[str | None] = ContextVar("covetpy.events.request_id", default=None)
"""The id of the request being served (`X-Request-ID`), copied into `requestid`."""

traceparent: ContextVar[str | None] = ContextVar("covetpy.events.traceparent", default=None)
"""The W3C `traceparent` of the current span, copied into the envelope's `traceparent`."""

envelope: ContextVar[Envelope | None] = ContextVar("covetpy.events.envelope", default=None)
"""The envelope of the event whose handler is running (None outside handlers)."""

attempt: ContextVar[int] = ContextVar("covetpy.events.attempt", default=0)
"""Which delivery of that event this is (1 the first; 0 outside handlers)."""
