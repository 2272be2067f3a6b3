"""ContextInterceptor: the request id, trace context and deadline a handler sees in
`covetpy.mesh.context`, and the request id echoed to the caller."""

from __future__ import annotations

import re
import time

import grpc
import pytest

from covetpy.grpc import _tracecontext
from tests.grpc.conftest import Served, echo_pb2

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def say(served: Served, metadata: list[tuple[str, str]] = [], **fields: object) -> tuple:  # noqa: B006
    reply, call = served.stub.Say.with_call(
        echo_pb2.SayRequest(text="x", **fields), timeout=5, metadata=metadata
    )
    return reply, dict(call.initial_metadata())


def test_request_id_is_made_and_echoed(served: Served) -> None:
    reply, initial = say(served)
    assert re.fullmatch(r"[0-9a-f]{32}", reply.request_id)  # uuid4 hex
    assert initial["x-request-id"] == reply.request_id


def test_request_id_is_accepted_and_echoed(served: Served) -> None:
    reply, initial = say(served, [("x-request-id", "order-42")])
    assert reply.request_id == initial["x-request-id"] == "order-42"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, ""])
def test_invalid_request_id_is_replaced(served: Served, bad: str) -> None:
    reply, initial = say(served, [("x-request-id", bad)])
    assert reply.request_id != bad and len(reply.request_id) == 32
    assert initial["x-request-id"] == reply.request_id


def test_streaming_calls_echo_the_request_id_first(served: Served) -> None:
    call = served.stub.Count(echo_pb2.CountRequest(n=2), metadata=[("x-request-id", "s-1")])
    assert dict(call.initial_metadata())["x-request-id"] == "s-1"
    assert [r.request_id for r in call] == ["s-1", "s-1"]


def test_empty_stream_still_echoes_the_request_id(served: Served) -> None:
    call = served.stub.Tick(echo_pb2.CountRequest(n=0), metadata=[("x-request-id", "s-0")])
    assert list(call) == []
    assert dict(call.initial_metadata())["x-request-id"] == "s-0"


def test_trace_is_continued_with_a_span_of_its_own(served: Served) -> None:
    reply, _ = say(served, [("traceparent", PARENT), ("tracestate", "vendor=1")])
    match = TRACEPARENT.fullmatch(reply.traceparent)
    assert match is not None
    trace, span, flags = match.groups()
    assert trace == TRACE  # same trace
    assert span not in ("00f067aa0ba902b7", "0" * 16)  # a new span id
    assert flags == "01"
    assert reply.tracestate == "vendor=1"


def test_without_traceparent_a_trace_starts(served: Served) -> None:
    first, _ = say(served)
    second, _ = say(served)
    assert TRACEPARENT.fullmatch(first.traceparent)
    assert first.traceparent[3:35] != second.traceparent[3:35]  # a trace each


def test_invalid_traceparent_starts_a_trace_and_drops_tracestate(served: Served) -> None:
    zeros = f"00-{'0' * 32}-00f067aa0ba902b7-01"
    for bad in ("garbage", zeros, PARENT.upper()):
        reply, _ = say(served, [("traceparent", bad), ("tracestate", "vendor=1")])
        assert TRACEPARENT.fullmatch(reply.traceparent)
        assert reply.traceparent[3:35] not in (TRACE, "0" * 32)
        assert reply.tracestate == ""


@pytest.mark.parametrize("timeout", [5.0, 60.0])
def test_deadline_is_what_the_caller_gave(served: Served, timeout: float) -> None:
    for _ in range(20):
        reply = served.stub.Say(echo_pb2.SayRequest(), timeout=timeout)
        # grpc sends the timeout rounded up to fit its header (grpc-timeout: at most 8
        # digits and a unit), by up to 1%: a handler may see a hair more than the caller set.
        # The lower bound leaves half the budget to reach the handler on a busy machine.
        assert timeout * 0.5 < reply.remaining <= timeout * 1.01 + 0.001


def test_no_deadline(served: Served) -> None:
    reply = served.stub.Say(echo_pb2.SayRequest())
    assert reply.remaining == -1


def test_handler_past_the_deadline_gets_deadline_exceeded(served: Served) -> None:
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        served.stub.Say(echo_pb2.SayRequest(sleep=60), timeout=0.3)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Ended at the 0.3 s deadline, not when the handler returns (60 s): a generous bound.
    assert time.monotonic() - start < 20


def test_traceparent_helpers() -> None:
    assert _tracecontext.parse(PARENT) == (TRACE, "00f067aa0ba902b7", "01")
    assert _tracecontext.parse(None) is None
    assert _tracecontext.parse(f"01-{TRACE}-00f067aa0ba902b7-01") is None  # not version 00
    assert _tracecontext.parse(f"00-{TRACE}-{'0' * 16}-01") is None
    child = _tracecontext.child_of(_tracecontext.parse(PARENT))
    assert child.startswith(f"00-{TRACE}-") and child.endswith("-01") and child != PARENT
    root = _tracecontext.child_of(None)
    assert TRACEPARENT.fullmatch(root) and root.endswith("-00")
