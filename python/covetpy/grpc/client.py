"""Calling gRPC services from inside a call: the request id, the trace context and what is left
of the deadline go with the call, as `covetpy.mesh.Client` does for HTTP.

Per call:

```python
reply = await stub.GetStock(request, **call_options())
```

or once per channel, for every call made on it:

```python
channel = grpc.aio.insecure_channel(target, interceptors=client_interceptors())
```
"""

from __future__ import annotations

from typing import Any

from covetpy.grpc._grpc import grpc, needed
from covetpy.mesh.context import CallContext, current, outbound_headers
from covetpy.observability.tracing import outbound_span

__all__ = ["call_options", "client_interceptors", "outbound_metadata", "outbound_timeout"]

Metadata = tuple[tuple[str, str], ...]


def outbound_metadata(ctx: CallContext | None = None) -> Metadata:
    """The metadata a call carries for `ctx` (default: the current call context):
    `x-request-id`, `traceparent`, `tracestate` (and `b3` when configured); empty outside a
    call."""
    return tuple(outbound_headers(ctx).items())


def outbound_timeout(ctx: CallContext | None = None, timeout: float | None = None) -> float | None:
    """The timeout for a call: what is left of `ctx`'s deadline (default: the current call's),
    or `timeout` if that is sooner; `timeout` outside a call or without a deadline."""
    ctx = current.get() if ctx is None else ctx
    left = None if ctx is None else ctx.remaining()
    if left is None:
        return timeout
    return left if timeout is None else min(left, timeout)


def call_options(*, timeout: float | None = None) -> dict[str, Any]:
    """`metadata=` and `timeout=` for a stub call from the current call context (see
    `outbound_metadata`, `outbound_timeout`): `await stub.Method(request, **call_options())`."""
    ctx = current.get()
    return {"metadata": outbound_metadata(ctx), "timeout": outbound_timeout(ctx, timeout)}


def client_interceptors() -> list[Any]:
    """Interceptors for a `grpc.aio` channel that give every call made on it the current call
    context's metadata and at most what is left of its deadline. Unary calls also get a client
    span while tracing is on (its traceparent is sent); a streaming call carries the current
    span's."""
    needed()
    # grpc sorts a channel's interceptors by `isinstance`; registering them as virtual
    # subclasses here, not subclassing, lets this module import without the grpc extra.
    aio = grpc.aio
    aio.UnaryUnaryClientInterceptor.register(_UnaryUnary)
    aio.UnaryStreamClientInterceptor.register(_UnaryStream)
    aio.StreamUnaryClientInterceptor.register(_StreamUnary)
    aio.StreamStreamClientInterceptor.register(_StreamStream)
    return [_UnaryUnary(), _UnaryStream(), _StreamUnary(), _StreamStream()]


def _details(details: Any, traceparent: str | None = None) -> Any:
    """`details` with the context's metadata added (keys the caller set are left alone) and
    its timeout capped by the deadline."""
    ctx = current.get()
    if ctx is None:
        return details
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    for key, value in outbound_metadata(ctx if traceparent is None else ctx.with_span(traceparent)):
        if key not in metadata:
            metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        details.method,
        outbound_timeout(ctx, details.timeout),
        metadata,
        details.credentials,
        details.wait_for_ready,
    )


def _span_name(details: Any) -> tuple[str, dict[str, str]]:
    method = details.method
    full = (method.decode() if isinstance(method, bytes) else method).lstrip("/")
    service, _, name = full.partition("/")
    return full, {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


class _UnaryUnary:
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if current.get() is None:
            return await continuation(details, request)
        name, attributes = _span_name(details)
        with outbound_span(name, kind="client", attributes=attributes) as traceparent:
            call = await continuation(_details(details, traceparent), request)
            await call.code()  # the span covers the whole call, however it ends
        return call


class _UnaryStream:
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_details(details), request)


class _StreamUnary:
    async def intercept_stream_unary(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_details(details), request_iterator)


class _StreamStream:
    async def intercept_stream_stream(
        self, continuation: Any, details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_details(details), request_iterator)
