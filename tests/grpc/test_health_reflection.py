"""The health service follows set_serving and stop; reflection lists what is served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from covetpy.grpc import GrpcHost
from tests.grpc.conftest import ECHO, Serve, Served

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def check(served: Served, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(served.channel)
    status: int = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
    return status


def eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Waits until `condition()` holds (set_serving from another thread applies in the
    server's loop, a moment later)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_serving_after_start(served: Served) -> None:
    assert check(served) == SERVING
    assert check(served, ECHO) == SERVING
    with pytest.raises(grpc.RpcError) as info:
        check(served, "no.Such")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_set_serving_flips_every_service(served: Served) -> None:
    served.host.set_serving(False)  # from this thread: applied in the server's loop
    eventually(lambda: check(served) == NOT_SERVING)
    assert check(served, ECHO) == NOT_SERVING
    served.host.set_serving(True)
    eventually(lambda: check(served) == SERVING)
    assert check(served, ECHO) == SERVING


def test_set_serving_in_the_loop(served: Served) -> None:
    async def flip() -> None:
        served.host.set_serving(False)

    served.loop.run(flip())
    eventually(lambda: check(served, ECHO) == NOT_SERVING)


def test_watch_sees_the_changes(served: Served) -> None:
    stub = health_pb2_grpc.HealthStub(served.channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=ECHO), timeout=10)
    assert next(watch).status == SERVING
    served.host.set_serving(False)
    assert next(watch).status == NOT_SERVING
    served.host.set_serving(True)
    assert next(watch).status == SERVING
    watch.cancel()


def test_not_serving_from_the_start(serve: Serve) -> None:
    host = GrpcHost(port=0)
    host.set_serving(False)  # e.g. readiness not established yet
    served = serve(host)
    assert check(served) == check(served, ECHO) == NOT_SERVING


def test_not_serving_while_stopping(served: Served) -> None:
    stub = health_pb2_grpc.HealthStub(served.channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert next(watch).status == SERVING
    stopping = asyncio.run_coroutine_threadsafe(served.host.stop(grace=0.5), served.loop.loop)
    assert next(watch).status == NOT_SERVING
    served.host.set_serving(True)  # ignored once stopping
    # The open Watch is a call in flight: it is cancelled when the grace period ends.
    with pytest.raises(grpc.RpcError):
        next(watch)
    stopping.result(5)


def test_health_and_reflection_can_be_left_out(serve: Serve) -> None:
    served = serve(GrpcHost(port=0, health=False, reflection=False))
    with pytest.raises(grpc.RpcError) as info:
        check(served)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with pytest.raises(grpc.RpcError) as info:
        ProtoReflectionDescriptorDatabase(served.channel).get_services()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_lists_and_describes_the_services(served: Served) -> None:
    database = ProtoReflectionDescriptorDatabase(served.channel)
    assert set(database.get_services()) == {
        ECHO,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    # A client with no generated code learns the methods from the server.
    service = DescriptorPool(database).FindServiceByName(ECHO)
    assert [m.name for m in service.methods] == ["Say", "Count", "Tick", "Chat", "Relay"]
    assert service.methods_by_name["Count"].server_streaming
