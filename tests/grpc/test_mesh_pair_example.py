"""examples/mesh_pair, run as its README says: the shop's HTTP handler calls the inventory over
gRPC, and the request id, trace and deadline of the HTTP request reach the gRPC handler."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from covetpy.grpc import protos
from tests.conftest import ROOT, RunningServer, free_port, running_server

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"


@dataclass
class Pair:
    inventory: RunningServer
    shop: RunningServer
    grpc_port: int


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """Both services as `covetpy run` processes, for the module; each must drain and exit 0
    with no traceback logged."""
    grpc_port = free_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INVENTORY_GRPC_PORT", str(grpc_port))
        env.setenv("INVENTORY_GRPC", f"127.0.0.1:{grpc_port}")
        with (
            # Two workers on one gRPC port (SO_REUSEPORT), metrics summed over them.
            running_server(
                "examples.mesh_pair.inventory_service:app", "--workers", "2", "--metrics"
            ) as inventory,
            running_server("examples.mesh_pair.shop_service:app") as shop,
        ):
            yield Pair(inventory, shop, grpc_port)
    for server in (shop, inventory):
        assert "Traceback" not in server.log, server.log


def test_context_flows_from_http_to_grpc(pair: Pair) -> None:
    headers = {"x-request-id": "mesh-pair-1", "traceparent": PARENT}
    r = httpx.get(f"{pair.shop.url}/orders/1", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["sku"], body["in_stock"]) == ("pen", True)
    saw = body["inventory_saw"]
    assert saw["request_id"] == r.headers["x-request-id"] == "mesh-pair-1"
    version, trace, span, _ = saw["traceparent"].split("-")
    assert (version, trace) == ("00", TRACE)  # the caller's trace
    assert span != SPAN  # served under a span of its own
    # The shop's budget (2 s) less what the shop spent; grpc rounds it up by at most 1%.
    assert 0 < saw["budget_seconds"] <= 2.0 * 1.01


def test_request_id_made_by_the_shop_reaches_the_inventory(
    pair: Pair,
) -> None:
    r = httpx.get(f"{pair.shop.url}/orders/2", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["in_stock"] is False
    assert r.json()["inventory_saw"]["request_id"] == r.headers["x-request-id"] != ""


def test_shorter_deadline_from_the_proxy_is_passed_on(
    pair: Pair,
) -> None:
    # Shorter than the shop's own 2 s, yet long enough for the call on a busy machine.
    headers = {"x-envoy-expected-rq-timeout-ms": "1500"}
    r = httpx.get(f"{pair.shop.url}/orders/1", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert 0 < r.json()["inventory_saw"]["budget_seconds"] <= 1.5 * 1.01


def test_grpc_errors_become_http_errors(pair: Pair) -> None:
    r = httpx.get(f"{pair.shop.url}/orders/3", timeout=10)  # an item the inventory does not carry
    assert r.status_code == 502
    assert "NOT_FOUND" in r.json()["detail"]
    assert httpx.get(f"{pair.shop.url}/orders/99", timeout=10).status_code == 404


def test_inventory_serves_health(pair: Pair) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="covetpy.examples.inventory.Inventory")
        assert stub.Check(request, timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def test_inventory_metrics_are_summed_over_its_workers(pair: Pair) -> None:
    def count() -> float:
        text = httpx.get(f"{pair.inventory.url}/metrics", timeout=10).text
        prefix = "rpc_server_call_duration_seconds_count{"
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix) and 'rpc_grpc_status_code="0"' in line
        )

    before = count()
    inventory_pb2, inventory_pb2_grpc = protos.load(ROOT / "examples/mesh_pair/inventory.proto")
    for _ in range(8):  # a connection each: the kernel spreads them over the workers
        with grpc.insecure_channel(f"127.0.0.1:{pair.grpc_port}") as channel:
            stub = inventory_pb2_grpc.InventoryStub(channel)
            assert stub.GetStock(inventory_pb2.StockRequest(sku="pen"), timeout=5).quantity
    assert count() == before + 8
