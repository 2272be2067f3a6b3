"""The server interceptors `GrpcHost` installs first, giving a gRPC call what the HTTP side
gives a request.

- `MetricsInterceptor`: `rpc_server_call_duration_seconds` and `rpc_server_active_calls`
  (`covetpy.grpc.metrics`), by service, method and status code.
- `ContextInterceptor`: the request id (`x-request-id` metadata, or a new one) echoed in the
  response metadata; a server span child of the caller's `traceparent`, with the call's
  `rpc.grpc.status_code` and failed only for the codes that are the server's own failure
  (OpenTelemetry's RPC conventions: a NOT_FOUND is an answer, an UNAVAILABLE a failure); and
  `covetpy.mesh.context.current` for the handler (request id, trace context, the deadline from
  the call's own), so what the handler calls next carries them on. An exception from a handler
  ends the call with INTERNAL and a log line, as an unhandled one gives 500 over HTTP.

grpc enforces the deadline itself: when it passes, the handler is cancelled and the caller gets
DEADLINE_EXCEEDED; `covetpy.mesh.context.remaining()` shows the handler what is left meanwhile.
Only async handlers are wrapped (`grpc.aio`); sync ones run as grpc runs them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from typing import Any

from covetpy.grpc import _tracecontext
from covetpy.grpc._grpc import grpc
from covetpy.grpc._wrap import Around, AroundInterceptor
from covetpy.grpc.metrics import RpcMetrics
from covetpy.mesh.context import CallContext, current
from covetpy.observability.tracing import annotate, server_span

__all__ = ["ContextInterceptor", "MetricsInterceptor"]

logger = logging.getLogger("covetpy.grpc")

# The rule the HTTP side applies (covetpy.middleware.RequestId): 1-128 visible ASCII characters.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


class MetricsInterceptor(AroundInterceptor):
    """Times every call and counts those in progress, by service, method and status code."""

    def __init__(self, metrics: RpcMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def around(self, service: str, method: str) -> Around:
        active = self.metrics.active.labels("grpc", service, method)
        histogram = self.metrics.duration
        durations: dict[grpc.StatusCode, Any] = {}

        @asynccontextmanager
        async def measured(context: Any) -> AsyncIterator[Any]:
            active.inc()
            start = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN  # what grpc answers for an exception it gets
            try:
                yield context
                code = context.code() or grpc.StatusCode.OK
            except asyncio.CancelledError:
                # grpc cancels the handler when the deadline passes or the caller cancels.
                left = context.time_remaining()
                passed = left is not None and left <= 0
                code = grpc.StatusCode.DEADLINE_EXCEEDED if passed else grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                active.dec()
                observe = durations.get(code)
                if observe is None:
                    labels = ("grpc", service, method, str(code.value[0]))
                    observe = durations[code] = histogram.labels(*labels).observe
                observe(time.perf_counter() - start)

        return measured


class ContextInterceptor(AroundInterceptor):
    """Request id, server span and call context for each call (see the module docstring).

    `skip` names services served without them (`GrpcHost` skips health and reflection, whose
    probes would otherwise fill the traces).
    """

    def __init__(self, *, skip: Collection[str] = ()) -> None:
        super().__init__()
        self.skip = frozenset(skip)

    def around(self, service: str, method: str) -> Around | None:
        if service in self.skip:
            return None
        name = f"{service}/{method}"
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

        @asynccontextmanager
        async def in_context(context: Any) -> AsyncIterator[Any]:
            request_id, traceparent, tracestate = _read(context.invocation_metadata())
            parent = _tracecontext.parse(traceparent)
            if parent is None:  # W3C Trace Context §3.3: no tracestate without a traceparent
                traceparent = tracestate = None
            left = context.time_remaining()
            call = CallContext(
                request_id=request_id,
                # While tracing is on, the span replaces this with its own (and names it in
                # `current`); while it is off, the call still gets a span id of its own.
                traceparent=_tracecontext.child_of(parent),
                tracestate=tracestate,
                deadline=None if left is None else time.monotonic() + left,
            )
            echoing = EchoingContext(context, (("x-request-id", request_id),))
            token = current.set(call)
            try:
                aborted: grpc.aio.AbortError | None = None
                with server_span(
                    name,
                    traceparent=traceparent,
                    tracestate=tracestate,
                    kind="server",
                    attributes=attributes,
                ):
                    try:
                        yield echoing
                    except grpc.aio.AbortError as exc:
                        # An answer with a status, not by itself a failure of the span: caught
                        # here so the span does not record it as one (_annotate decides).
                        aborted = exc
                        _annotate(echoing.code)
                    except Exception:
                        _annotate(grpc.StatusCode.INTERNAL)
                        raise
                    else:
                        _annotate(echoing.code)
                if aborted is not None:
                    raise aborted
                await echoing.flush()
            except grpc.aio.AbortError:
                raise
            except Exception:
                logger.exception("gRPC %s failed (request id %s)", name, request_id)
                await echoing.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                current.reset(token)

        return in_context


# OpenTelemetry's RPC conventions: for a server these codes are its own failure; the others
# (NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED...) are answers to the caller's request and
# leave the span's status unset. By name, as this module imports without the grpc extra.
_SERVER_ERRORS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)


def _annotate(code: grpc.StatusCode) -> None:
    """The call's status on its server span (`rpc.grpc.status_code`), failed or not."""
    error = code.name if code.name in _SERVER_ERRORS else None
    annotate({"rpc.grpc.status_code": code.value[0]}, error=error)


def _read(metadata: Iterable[Any] | None) -> tuple[str, str | None, str | None]:
    """(request id, traceparent, tracestate) from the call's metadata; a new request id if it
    has none that is valid."""
    request_id = traceparent = tracestate = None
    for key, value in metadata or ():
        if key == "x-request-id":
            request_id = value
        elif key == "traceparent":
            traceparent = value
        elif key == "tracestate":
            tracestate = value
    if request_id is None or not _REQUEST_ID.fullmatch(request_id):
        request_id = uuid.uuid4().hex
    return request_id, traceparent, tracestate


class EchoingContext:
    """The servicer context the handler gets: the call's own, except that `echo` (the
    request id) goes out with the initial metadata whenever they are sent, and with the
    trailing metadata, which every call has (a failed call may have no initial metadata).

    Initial metadata are sent lazily, as grpc does, so a handler may still send its own
    (`send_initial_metadata`): `echo` is added to them.
    """

    __slots__ = ("_context", "_echo", "_sent", "code")

    def __init__(self, context: Any, echo: tuple[tuple[str, str], ...]) -> None:
        self._context = context
        self._echo = echo
        self._sent = False
        # The status the handler set or aborted with (for the server span).
        self.code = grpc.StatusCode.OK
        context.set_trailing_metadata(echo)

    def set_code(self, code: Any) -> None:
        """Sets the call's status code."""
        self.code = code
        self._context.set_code(code)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, Any]]) -> None:
        """Sends `metadata` and the request id."""
        self._sent = True
        await self._context.send_initial_metadata((*self._echo, *metadata))

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, Any]]) -> None:
        """Sets the trailing metadata to `metadata` and the request id."""
        self._context.set_trailing_metadata((*self._echo, *metadata))

    async def write(self, message: Any) -> None:
        """Writes a response message (after the initial metadata, if not sent yet)."""
        await self.flush()
        await self._context.write(message)

    async def abort(
        self, code: Any, details: str = "", trailing_metadata: Iterable[tuple[str, Any]] = ()
    ) -> None:
        """Ends the call with `code`; the trailing metadata keep the request id."""
        self.code = code
        trailing = tuple(trailing_metadata)
        # Empty: grpc sends those set before, which have it.
        await self._context.abort(code, details, (*self._echo, *trailing) if trailing else ())

    async def flush(self) -> None:
        """Sends the initial metadata (the request id) unless they have been sent."""
        if not self._sent:
            self._sent = True
            await self._context.send_initial_metadata(self._echo)
