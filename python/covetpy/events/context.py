"""Context carried from a request into the events it publishes, and from an event into the
events its handler publishes.

`EventBus.publish` copies the request id and trace context of the call being served into the
envelope: those of `covetpy.mesh.context.current` (set for each request by the mesh or
tracing middleware, and for each event handled), else the `request_id` and `traceparent`
below. While a handler runs, the bus sets both from the event being handled (and `envelope`,
`attempt` here), so a chain of events keeps the request id and trace of the request that
started it. While tracing is on, the envelope's `traceparent` is that of the publish span.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from covetpy.mesh import context as mesh

if TYPE_CHECKING:
    from covetpy.events.envelope import Envelope

__all__ = ["attempt", "carried", "envelope", "request_id", "traceparent"]

request_id: ContextVar[str | None] = ContextVar("covetpy.events.request_id", default=None)
"""The id of the request being served (`X-Request-ID`), copied into `requestid`."""

traceparent: ContextVar[str | None] = ContextVar("covetpy.events.traceparent", default=None)
"""The W3C `traceparent` of the current span, copied into the envelope's `traceparent`."""

envelope: ContextVar[Envelope | None] = ContextVar("covetpy.events.envelope", default=None)
"""The envelope of the event whose handler is running (None outside handlers)."""

attempt: ContextVar[int] = ContextVar("covetpy.events.attempt", default=0)
"""Which delivery of that event this is (1 the first; 0 outside handlers)."""


def carried() -> tuple[str | None, str | None, str | None]:
    """(request id, traceparent, tracestate) a published event carries: the current call's
    (`covetpy.mesh.context.current`), else `request_id` and `traceparent` here."""
    call = mesh.current.get()
    if call is not None:
        return (
            call.request_id or request_id.get(),
            call.traceparent or traceparent.get(),
            call.tracestate,
        )
    return request_id.get(), traceparent.get(), None
