"""MetricsInterceptor: call durations by status code, and calls in progress."""

from __future__ import annotations

import concurrent.futures
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from tests.grpc.conftest import ECHO, Served, echo_pb2


def calls(method: str, code: grpc.StatusCode) -> float:
    labels = {
        "rpc_system": "grpc",
        "rpc_service": ECHO,
        "rpc_method": method,
        "rpc_grpc_status_code": str(code.value[0]),
    }
    return REGISTRY.get_sample_value("rpc_server_call_duration_seconds_count", labels) or 0.0


def active(method: str) -> float:
    labels = {"rpc_system": "grpc", "rpc_service": ECHO, "rpc_method": method}
    return REGISTRY.get_sample_value("rpc_server_active_calls", labels) or 0.0


def outcome(served: Served, method: str, code: grpc.StatusCode, call: object) -> None:
    """Makes `call` and checks it was counted once, under `code`."""
    before = calls(method, code)
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as exc:
        assert exc.code() == code
    counted(method, code, before + 1)


def counted(method: str, code: grpc.StatusCode, expected: float) -> None:
    """Waits for the count to reach `expected`: an aborted or cancelled call is counted as its
    handler ends, which may be just after the caller has its status."""
    deadline = time.monotonic() + 30
    while calls(method, code) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls(method, code) == expected


def test_calls_are_counted_by_status_code(served: Served) -> None:
    stub = served.stub
    outcome(served, "Say", grpc.StatusCode.OK, lambda: stub.Say(echo_pb2.SayRequest(), timeout=5))
    outcome(
        served,
        "Say",
        grpc.StatusCode.INTERNAL,
        lambda: stub.Say(echo_pb2.SayRequest(fail=True), timeout=5),
    )
    outcome(
        served,
        "Say",
        grpc.StatusCode.NOT_FOUND,
        lambda: stub.Say(echo_pb2.SayRequest(abort=5), timeout=5),
    )
    outcome(
        served,
        "Count",
        grpc.StatusCode.OK,
        lambda: list(stub.Count(echo_pb2.CountRequest(n=2), timeout=5)),
    )


def test_deadline_exceeded_is_counted(served: Served) -> None:
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    before = calls("Say", code)
    with pytest.raises(grpc.RpcError):
        served.stub.Say(echo_pb2.SayRequest(sleep=60), timeout=0.2)
    # The client gives up at its deadline; the server's handler is cancelled about then.
    counted("Say", code, before + 1)


def test_active_calls(served: Served) -> None:
    assert active("Say") == 0
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Still running when the gauge is read, however busy the machine.
        slow = pool.submit(served.stub.Say, echo_pb2.SayRequest(sleep=5), 30)
        assert served.echo.started.wait(30)
        assert active("Say") == 1
        slow.result(30)
    assert active("Say") == 0


def test_durations_are_observed(served: Served) -> None:
    labels = {
        "rpc_system": "grpc",
        "rpc_service": ECHO,
        "rpc_method": "Say",
        "rpc_grpc_status_code": "0",
    }
    before = REGISTRY.get_sample_value("rpc_server_call_duration_seconds_sum", labels) or 0.0
    served.stub.Say(echo_pb2.SayRequest(sleep=0.2), timeout=5)
    after = REGISTRY.get_sample_value("rpc_server_call_duration_seconds_sum", labels) or 0.0
    assert 0.2 <= after - before < 2
