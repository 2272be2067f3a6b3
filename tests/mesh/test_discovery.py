"""Discovery against real sources on loopback: /etc/hosts, a UDP DNS server, a Consul API."""

from __future__ import annotations

import json
import logging
import socket
from collections import Counter

import pytest

from covetpy.mesh.discovery import Balancer, Consul, Discovery, Dns, DnsSrv, Endpoint, Static
from covetpy.mesh.errors import NoEndpoints
from tests.mesh._upstreams import DnsServer, Reply, Seen, Upstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_endpoint_parse() -> None:
    assert Endpoint.parse("10.0.0.1:8080") == Endpoint("10.0.0.1", 8080)
    assert Endpoint.parse("[::1]:80") == Endpoint("::1", 80)
    assert Endpoint("::1", 80).authority == "[::1]:80"
    for bad in ("10.0.0.1", "host:", ":80", "host:http"):
        with pytest.raises(ValueError):
            Endpoint.parse(bad)


async def test_static() -> None:
    found = await Static(["127.0.0.1:8001", "127.0.0.1:8002"]).endpoints()
    assert [e.authority for e in found] == ["127.0.0.1:8001", "127.0.0.1:8002"]
    with pytest.raises(NoEndpoints):
        await Static([]).endpoints()


async def test_dns_localhost() -> None:
    found = await Dns("localhost", 8080).endpoints()
    assert Endpoint("127.0.0.1", 8080) in found
    assert len(found) == len(set(found))
    v4 = await Dns("localhost", 8080, family=socket.AF_INET).endpoints()
    assert v4 == [Endpoint("127.0.0.1", 8080)]


async def test_dns_srv_priority_weight_and_additional_addresses() -> None:
    records = {
        ("_http._tcp.orders.test.", "SRV"): (
            30,
            ["10 60 8001 a.orders.test.", "10 20 8002 b.orders.test.", "20 0 8003 localhost."],
        )
    }
    additional = {"a.orders.test.": "127.0.0.11", "b.orders.test.": "127.0.0.12"}
    async with DnsServer(records, additional) as server:
        srv = DnsSrv("_http._tcp.orders.test.", nameservers=[server.nameserver])
        found = await srv.endpoints()
        assert found == [
            Endpoint("127.0.0.11", 8001),
            Endpoint("127.0.0.12", 8002),
            Endpoint("localhost", 8003),  # no address sent: resolved when connecting
        ]
        assert [(e.priority, e.weight) for e in found] == [(10, 60), (10, 20), (20, 0)]
        await srv.endpoints()
        assert server.queries == 1  # cached for the record's TTL

        balancer = Balancer("orders", srv)
        picks = Counter([(await balancer.pick()).port for _ in range(80)])
        assert picks == {8001: 60, 8002: 20}  # priority 10 only, 3:1 by weight
        balancer.failed(Endpoint("127.0.0.11", 8001))
        balancer.failed(Endpoint("127.0.0.12", 8002))
        assert (await balancer.pick()).port == 8003  # the next priority when all are down

        override = DnsSrv(
            "_http._tcp.orders.test.", nameservers=[server.nameserver], port_override=15001
        )
        assert {e.port for e in await override.endpoints()} == {15001}


async def test_dns_srv_ttl_is_bounded_and_last_answer_survives_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    name = "_http._tcp.pay.test."
    async with DnsServer({(name, "SRV"): (0, ["1 1 9000 localhost."])}) as server:
        srv = DnsSrv(name, nameservers=[server.nameserver], min_ttl=2.0, timeout=0.5, clock=clock)
        first = await srv.endpoints()
        clock.now += 1.0
        await srv.endpoints()
        assert server.queries == 1  # TTL 0 is raised to min_ttl
        clock.now += 1.5
        del server.records[(name, "SRV")]  # now NXDOMAIN
        with caplog.at_level(logging.WARNING, logger="covetpy.mesh"):
            assert await srv.endpoints() == first
            clock.now += 1.5
            assert await srv.endpoints() == first
        assert server.queries == 3
        assert len([r for r in caplog.records if "refresh failed" in r.message]) == 1


async def test_dns_srv_without_any_answer_raises_no_endpoints() -> None:
    async with DnsServer({}) as server:
        srv = DnsSrv("_http._tcp.none.test.", nameservers=[server.nameserver], timeout=0.5)
        with pytest.raises(NoEndpoints):
            await srv.endpoints()


def consul_entry(node_addr: str, svc_addr: str, port: int, weight: int = 1) -> dict[str, object]:
    return {
        "Node": {"ID": "n", "Node": "node-" + node_addr, "Address": node_addr, "Datacenter": "dc1"},
        "Service": {
            "ID": f"orders-{port}",
            "Service": "orders",
            "Tags": ["v1"],
            "Address": svc_addr,
            "Port": port,
            "Weights": {"Passing": weight, "Warning": 1},
        },
        "Checks": [{"CheckID": "serfHealth", "Status": "passing"}],
    }


async def test_consul_health_service() -> None:
    entries = [
        consul_entry("10.0.0.5", "127.0.0.21", 8001, 3),
        consul_entry("127.0.0.22", "", 8002),
    ]
    status = [200]

    async def handler(seen: Seen) -> Reply:
        if seen.path != "/v1/health/service/orders":
            return Reply(404, body=b"")
        return Reply(status[0], {"content-type": "application/json"}, json.dumps(entries).encode())

    clock = Clock()
    async with Upstream(handler) as consul:
        discovery = Consul(
            "orders", consul.url, tag="v1", datacenter="dc2", ttl=5.0, token="t0k", clock=clock
        )
        found = await discovery.endpoints()
        assert found == [Endpoint("127.0.0.21", 8001), Endpoint("127.0.0.22", 8002)]
        assert [e.weight for e in found] == [3, 1]
        seen = consul.seen[0]
        assert seen.query == {"passing": "1", "tag": "v1", "dc": "dc2"}
        assert seen.headers["x-consul-token"] == "t0k"

        clock.now += 4.0
        await discovery.endpoints()
        assert len(consul.seen) == 1  # within the TTL
        clock.now += 2.0
        status[0] = 500
        assert await discovery.endpoints() == found  # the agent fails: last answer kept
        assert len(consul.seen) == 2
        status[0] = 200
        entries.pop()
        clock.now += 2.0
        assert await discovery.endpoints() == [Endpoint("127.0.0.21", 8001)]

        everything = Consul("orders", consul.url, passing=False)
        await everything.endpoints()
        assert consul.seen[-1].query == {}


async def test_consul_unreachable_without_an_answer() -> None:
    async with Upstream() as consul:
        address = consul.url
    with pytest.raises(NoEndpoints, match="discovery failed"):
        await Consul("orders", address, timeout=0.5).endpoints()


class Flaky(Discovery):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.answers: list[list[Endpoint] | Exception] = []

    async def fetch(self) -> tuple[list[Endpoint], float]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer, 10.0


async def test_an_empty_answer_counts_as_a_failed_refresh() -> None:
    clock = Clock()
    flaky = Flaky(clock)
    good = [Endpoint("127.0.0.1", 1)]
    flaky.answers = [good, [], OSError("down"), [Endpoint("127.0.0.1", 2)]]
    assert await flaky.endpoints() == good
    clock.now += 10.0
    assert await flaky.endpoints() == good  # empty
    clock.now += 1.0
    assert await flaky.endpoints() == good  # error
    clock.now += 1.0
    assert await flaky.endpoints() == [Endpoint("127.0.0.1", 2)]


async def test_round_robin_skips_endpoints_that_failed_to_connect() -> None:
    clock = Clock()
    eps = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    balancer = Balancer("svc", Static(eps), eject_for=5.0, clock=clock)
    assert [(await balancer.pick()).port for _ in range(6)] == [1, 2, 3, 1, 2, 3]
    balancer.failed(Endpoint("127.0.0.1", 2))
    assert {(await balancer.pick()).port for _ in range(6)} == {1, 3}
    clock.now += 5.0
    assert {(await balancer.pick()).port for _ in range(6)} == {1, 2, 3}
    with pytest.raises(NoEndpoints, match="empty"):
        await Balancer("empty", Static([])).pick()
