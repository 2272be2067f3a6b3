"""Calls made from inside a call carry its request id, trace and what is left of its deadline."""

from __future__ import annotations

import time

import pytest

from covetpy.grpc import call_options, outbound_metadata, outbound_timeout
from covetpy.mesh.context import CallContext, use
from tests.grpc.conftest import Served, echo_pb2

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("how", ["options", "interceptors"])
def test_relayed_call_carries_the_context(served: Served, how: str) -> None:
    metadata = [("x-request-id", "relay-1"), ("traceparent", PARENT), ("tracestate", "v=1")]
    request = echo_pb2.SayRequest(text=how, sleep=0.5)
    inner = served.stub.Relay(request, timeout=2, metadata=metadata)
    assert inner.text == "relayed"
    assert inner.request_id == "relay-1"
    trace, span = inner.traceparent.split("-")[1:3]
    assert trace == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span != "00f067aa0ba902b7"
    assert inner.tracestate == "v=1"
    assert 0 < inner.remaining < 1.6  # what was left after the relay's 0.5 s, not a fresh 2 s


def test_relayed_call_without_deadline_has_none(served: Served) -> None:
    inner = served.stub.Relay(echo_pb2.SayRequest(text="interceptors"))
    assert inner.remaining == -1


def test_outbound_metadata() -> None:
    ctx = CallContext(request_id="r", traceparent=PARENT, tracestate="v=1")
    assert outbound_metadata(ctx) == (
        ("x-request-id", "r"),
        ("traceparent", PARENT),
        ("tracestate", "v=1"),
    )
    assert outbound_metadata() == ()  # outside a call


def test_outbound_timeout() -> None:
    # 30 s left: the ranges hold however long a busy machine takes between the lines.
    ctx = CallContext(deadline=time.monotonic() + 30)
    assert 20 < (outbound_timeout(ctx) or 0) <= 30
    assert outbound_timeout(ctx, 0.5) == 0.5  # the caller's own, sooner
    assert 20 < (outbound_timeout(ctx, 60.0) or 0) <= 30
    assert outbound_timeout(CallContext(deadline=time.monotonic() - 1)) == 0.0  # passed
    assert outbound_timeout(CallContext(), 3.0) == 3.0  # no deadline
    assert outbound_timeout() is None  # outside a call


def test_call_options() -> None:
    assert call_options() == {"metadata": (), "timeout": None}
    with use(CallContext(request_id="r", deadline=time.monotonic() + 1.0)):
        options = call_options(timeout=0.25)
    assert options == {"metadata": (("x-request-id", "r"),), "timeout": 0.25}
