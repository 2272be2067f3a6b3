"""GrpcHost: serving the four call shapes, errors, graceful stop, restart, registration."""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import time

import grpc
import pytest

from covetpy.exceptions import ConfigError
from covetpy.grpc import GrpcHost, service_name
from tests.grpc.conftest import ECHO, Serve, Served, echo_pb2, echo_pb2_grpc


def test_unary(served: Served) -> None:
    reply = served.stub.Say(echo_pb2.SayRequest(text="hi"), timeout=5)
    assert reply.text == "hi"


def test_server_streaming_async_generator(served: Served) -> None:
    replies = list(served.stub.Count(echo_pb2.CountRequest(n=3), timeout=5))
    assert [r.text for r in replies] == ["0", "1", "2"]


def test_server_streaming_written_through_the_context(served: Served) -> None:
    replies = list(served.stub.Tick(echo_pb2.CountRequest(n=3), timeout=5))
    assert [r.text for r in replies] == ["0", "1", "2"]


def test_bidirectional_streaming(served: Served) -> None:
    requests = iter([echo_pb2.SayRequest(text="a"), echo_pb2.SayRequest(text="b")])
    replies = list(served.stub.Chat(requests, timeout=5))
    assert [r.text for r in replies] == ["a", "b"]
    assert replies[0].request_id == replies[1].request_id != ""


def test_handler_exception_is_internal_and_logged(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="covetpy.grpc"):
        with pytest.raises(grpc.RpcError) as info:
            served.stub.Say(
                echo_pb2.SayRequest(fail=True), timeout=5, metadata=[("x-request-id", "r-9")]
            )
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"  # the exception's text stays in the log
    assert ("x-request-id", "r-9") in info.value.trailing_metadata()
    [record] = [r for r in caplog.records if r.name == "covetpy.grpc"]
    assert record.getMessage() == f"gRPC {ECHO}/Say failed (request id r-9)"
    assert record.exc_info is not None and "the handler failed" in str(record.exc_info[1])
    # The server carries on.
    assert served.stub.Say(echo_pb2.SayRequest(text="still here"), timeout=5).text == "still here"


def test_abort_keeps_its_code(served: Served) -> None:
    not_found = grpc.StatusCode.NOT_FOUND.value[0]
    with pytest.raises(grpc.RpcError) as info:
        served.stub.Say(echo_pb2.SayRequest(abort=not_found), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "aborted"
    assert any(key == "x-request-id" for key, _ in info.value.trailing_metadata())


def test_unknown_method_is_unimplemented(served: Served) -> None:
    call = served.channel.unary_unary(f"/{ECHO}/Nope")
    with pytest.raises(grpc.RpcError) as info:
        call(b"", timeout=5)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_graceful_stop_lets_a_call_in_flight_finish(served: Served) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(served.stub.Say, echo_pb2.SayRequest(text="slow", sleep=0.5), 60)
        assert served.echo.started.wait(30)
        start = time.monotonic()
        served.stop(grace=60)
        took = time.monotonic() - start
        assert slow.result(30).text == "slow"
    # Returned when the call finished (0.5 s), not at the end of the grace period (60 s): a
    # clock tells them apart, with a bound far from both.
    assert took < 20
    assert not served.host.running
    with pytest.raises(grpc.RpcError) as info:
        served.stub.Say(echo_pb2.SayRequest(text="late"), timeout=2)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_stop_cancels_calls_still_running_after_the_grace_period(served: Served) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(served.stub.Say, echo_pb2.SayRequest(sleep=60), 90)
        assert served.echo.started.wait(30)
        start = time.monotonic()
        served.stop(grace=0.2)
        # Cut at the 0.2 s grace, not when the call ends (60 s): a generous bound between.
        assert time.monotonic() - start < 20
        with pytest.raises(grpc.RpcError) as info:
            slow.result(30)
    assert info.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


def test_stop_is_idempotent_and_the_host_restarts(served: Served) -> None:
    port = served.host.port
    served.stop(grace=1)
    served.stop(grace=1)
    assert served.loop.run(served.host.start()) == port  # the port bound the first time
    assert served.stub.Say(echo_pb2.SayRequest(text="again"), timeout=5).text == "again"


def test_port_in_use_is_a_config_error(serve: Serve) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        host = GrpcHost(port=port, options=[("grpc.so_reuseport", 0)])
        with pytest.raises(ConfigError, match=f"gRPC cannot listen on 127.0.0.1:{port}"):
            serve(host)


def test_service_name_comes_from_the_descriptor() -> None:
    assert service_name(echo_pb2_grpc.add_EchoServicer_to_server) == ECHO


def test_add_servicer_checks() -> None:
    host = GrpcHost(port=0)

    def add_things(servicer: object, server: object) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="pass its full name"):
        host.add_servicer(add_things, object())
    host.add_servicer(add_things, object(), name="pkg.Things")
    host.add_servicer(echo_pb2_grpc.add_EchoServicer_to_server, object())
    assert host.services == ("pkg.Things", ECHO)
    with pytest.raises(ValueError, match="already added"):
        host.add_servicer(echo_pb2_grpc.add_EchoServicer_to_server, object())


def test_add_servicer_after_start_fails(served: Served) -> None:
    with pytest.raises(RuntimeError, match="before the gRPC server starts"):
        served.host.add_servicer(echo_pb2_grpc.add_EchoServicer_to_server, object(), name="x.Y")
