"""`covetpy.mesh.Client` against real HTTP upstreams on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import prometheus_client
import pytest

from covetpy.mesh import client as client_module
from covetpy.mesh.breaker import BreakerPolicy, State
from covetpy.mesh.client import Client
from covetpy.mesh.context import CallContext, use
from covetpy.mesh.discovery import Consul, Dns
from covetpy.mesh.errors import CircuitOpen, DeadlineExceeded, MeshError, NoEndpoints
from covetpy.mesh.retry import RetryPolicy
from covetpy.mesh.status import overloaded
from tests.mesh._upstreams import Handler, Reply, Seen, Upstream, dead_address, failing

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(backoff_base=0.001, backoff_cap=0.01)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
_names = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def unique(prefix: str) -> str:
    """An upstream name no other test uses (metrics are process-wide)."""
    return f"{prefix}-{next(_names)}"


def sample(name: str, **labels: str) -> float:
    return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0


def always(status: int, headers: dict[str, str] | None = None, delay: float = 0.0) -> Handler:
    """Answers `status` every time (after `delay` seconds)."""

    async def handler(_: Seen) -> Reply:
        return Reply(status, dict(headers or {}), b"x", delay)

    return handler


# -- retries -------------------------------------------------------------------------------


async def test_get_is_retried_until_it_succeeds() -> None:
    name = unique("orders")
    async with (
        Upstream(failing(2, 503)) as up,
        Client(upstreams={name: [up.address]}, retry=FAST) as c,
    ):
        response = await c.get(f"http://{name}/items")
    assert response.status_code == 200
    assert len(up.seen) == 3
    assert sample("covetpy_client_retries_total", upstream=name, reason="503") == 2


async def test_post_is_not_retried_unless_marked_idempotent() -> None:
    up = Upstream(always(503))
    async with up, Client(upstreams={"svc": up.address}, retry=FAST, breaker=None) as c:
        assert (await c.post("http://svc/orders", json={"a": 1})).status_code == 503
        assert len(up.seen) == 1
        assert up.seen[0].body == b'{"a":1}'
        await c.post("http://svc/orders", headers={"Idempotency-Key": "k1"})
        assert len(up.seen) == 4
        await c.patch("http://svc/orders", idempotent=True)
        assert len(up.seen) == 7
        await c.get("http://svc/orders", idempotent=False)
        assert len(up.seen) == 8


async def test_4xx_and_500_are_not_retried() -> None:
    async with Upstream(always(500)) as up, Client(upstreams={"svc": up.address}, retry=FAST) as c:
        assert (await c.get("http://svc/")).status_code == 500
        up.handler = always(404)
        assert (await c.get("http://svc/")).status_code == 404
    assert len(up.seen) == 2


async def test_connection_errors_move_on_to_another_endpoint() -> None:
    dead = dead_address()
    async with Upstream() as up, Client(upstreams={"svc": [dead, up.address]}, retry=FAST) as c:
        for _ in range(4):
            assert (await c.get("http://svc/")).status_code == 200
    assert len(up.seen) == 4  # the dead endpoint was skipped once it refused


async def test_unretried_httpx_errors_propagate_unchanged() -> None:
    async with Client(upstreams={"svc": dead_address()}, retry=None) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("http://svc/")
    async with Client(upstreams={"svc": dead_address()}, retry=FAST) as c:
        with pytest.raises(httpx.ConnectError):  # the last attempt's error, once retries are spent
            await c.get("http://svc/")


async def test_retry_after_seconds_is_the_minimum_wait() -> None:
    handler = failing(1, 503, {"retry-after": "1"})
    async with Upstream(handler) as up, Client(upstreams={"svc": up.address}, retry=FAST) as c:
        started = time.monotonic()
        assert (await c.get("http://svc/")).status_code == 200
        assert time.monotonic() - started >= 0.95
    assert len(up.seen) == 2


async def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 1.5, usegmt=True)  # 0.5 to 1.5 s away
    handler = failing(1, 429, {"retry-after": when})
    async with Upstream(handler) as up, Client(upstreams={"svc": up.address}, retry=FAST) as c:
        assert (await c.get("http://svc/")).status_code == 200
        # Not retried before the date (compared with the wall clock the date is on, so a slow
        # start of the test cannot make the wait look short).
        retried_by = time.time()
        assert retried_by >= email.utils.parsedate_to_datetime(when).timestamp() - 0.05
    assert len(up.seen) == 2


async def test_429_without_retry_after_is_not_retried() -> None:
    async with Upstream(always(429)) as up, Client(upstreams={"svc": up.address}, retry=FAST) as c:
        assert (await c.get("http://svc/")).status_code == 429
    assert len(up.seen) == 1


async def test_an_overloaded_answer_is_retried_on_another_instance() -> None:
    response = overloaded(retry_after=0)

    async def busy(_: Seen) -> Reply:
        return Reply(response.status_code, response.headers, response.body)

    async with Upstream(busy) as a, Upstream() as b:
        async with Client(upstreams={"svc": [a.address, b.address]}, retry=FAST) as c:
            assert (await c.get("http://svc/")).status_code == 200
    assert (len(a.seen), len(b.seen)) == (1, 1)


async def test_gives_up_when_retry_after_is_too_long_or_past_the_deadline() -> None:
    retry = RetryPolicy(max_wait=30.0, backoff_base=0.001)
    async with Upstream(always(503, {"retry-after": "60"})) as up:
        async with Client(upstreams={"svc": up.address}, retry=retry) as c:
            started = time.monotonic()
            assert (await c.get("http://svc/")).status_code == 503  # 60 s > max_wait
            up.handler = always(503, {"retry-after": "20"})  # within max_wait, past the deadline
            with use(CallContext(deadline=time.monotonic() + 15)):
                assert (await c.get("http://svc/")).status_code == 503
            # Given up at once: waiting for either Retry-After, or until the deadline, would
            # take longer than this generous bound.
            assert time.monotonic() - started < 10
    assert len(up.seen) == 2


async def test_budget_stops_retries() -> None:
    name = unique("sick")
    # 0 x requests + 0.1/s x 10 s: one retry per 10 s window.
    retry = RetryPolicy(backoff_base=0.001, budget_ratio=0.0, budget_min_per_second=0.1)
    async with Upstream(always(503)) as up, Client(upstreams={name: up.address}, retry=retry) as c:
        await c.get(f"http://{name}/")
        assert len(up.seen) == 2  # one retry, then the budget is spent
        await c.get(f"http://{name}/")
        assert len(up.seen) == 3
    assert sample("covetpy_client_retry_budget_exhausted_total", upstream=name) == 2


async def test_mesh_retries_turns_client_retries_off() -> None:
    async with Upstream(always(503)) as up:
        async with Client(upstreams={"svc": up.address}, retry=FAST, mesh_retries=True) as c:
            assert (await c.get("http://svc/")).status_code == 503
    assert len(up.seen) == 1


# -- circuit breaker -----------------------------------------------------------------------


async def test_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    name = unique("flaky")
    breaker = BreakerPolicy(consecutive_failures=3, cool_down=0.2)
    async with Upstream(always(500)) as up:
        async with Client(upstreams={name: up.address}, retry=None, breaker=breaker) as c:
            for _ in range(3):
                assert (await c.get(f"http://{name}/")).status_code == 500
            assert c.circuit_state(name) is State.OPEN
            with pytest.raises(CircuitOpen) as caught:
                await c.get(f"http://{name}/")
            assert isinstance(caught.value, MeshError)
            assert len(up.seen) == 3  # failed fast: nothing sent
            assert sample("covetpy_circuit_breaker_state", upstream=name) == 2
            assert sample("covetpy_circuit_breaker_open_total", upstream=name) == 1

            await asyncio.sleep(0.25)  # the cool-down (a time rule: nothing to wait on)
            assert c.circuit_state(name) is State.HALF_OPEN
            assert (await c.get(f"http://{name}/")).status_code == 500  # the probe fails
            assert c.circuit_state(name) is State.OPEN
            await asyncio.sleep(0.25)
            up.handler = always(200)
            assert (await c.get(f"http://{name}/")).status_code == 200
            assert c.circuit_state(name) is State.CLOSED
            assert sample("covetpy_circuit_breaker_state", upstream=name) == 0


async def test_4xx_are_successes_for_the_breaker() -> None:
    breaker = BreakerPolicy(consecutive_failures=2)
    async with Upstream(always(404)) as up, Client(retry=None, breaker=breaker) as c:
        for _ in range(5):
            await c.get(f"{up.url}/missing")
        assert c.circuit_state(up.address) is State.CLOSED


async def test_connection_errors_open_the_breaker_of_a_plain_host() -> None:
    address = dead_address()
    breaker = BreakerPolicy(consecutive_failures=2)
    async with Client(retry=None, breaker=breaker) as c:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://{address}/")
        with pytest.raises(CircuitOpen):
            await c.get(f"http://{address}/")


# -- deadlines and propagation -------------------------------------------------------------


async def test_remaining_deadline_is_sent_and_bounds_the_call() -> None:
    async with Upstream() as up, Client(upstreams={"svc": up.address}) as c:
        with use(CallContext(deadline=time.monotonic() + 30)):
            await c.get("http://svc/")
        headers = up.seen[0].headers
        # What is left of the 30 s when the call is sent: generous for a busy machine.
        assert 20_000 < int(headers["x-envoy-upstream-rq-timeout-ms"]) <= 30_000
        assert (
            headers["x-envoy-expected-rq-timeout-ms"] == headers["x-envoy-upstream-rq-timeout-ms"]
        )

        await c.get("http://svc/")  # no deadline: no timeout headers
        assert "x-envoy-upstream-rq-timeout-ms" not in up.seen[1].headers


async def test_a_slow_upstream_is_cut_off_at_the_deadline() -> None:
    async with Upstream(always(200, delay=30)) as up, Client(upstreams={"svc": up.address}) as c:
        started = time.monotonic()
        with use(CallContext(deadline=time.monotonic() + 0.3)), pytest.raises(DeadlineExceeded):
            await c.get("http://svc/")
        # Cut at the deadline, not when the upstream answers (30 s): a generous bound between.
        assert time.monotonic() - started < 10
    with pytest.raises(TimeoutError):
        raise DeadlineExceeded("is a TimeoutError")


async def test_client_timeout_without_deadline_raises_the_httpx_timeout() -> None:
    async with Upstream(always(200, delay=3.0)) as up, Client(timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{up.url}/")
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{up.url}/", timeout=0.1)
    assert len(up.seen) == 2  # read timeouts are not retried


async def test_an_expired_deadline_raises_before_sending() -> None:
    async with Upstream() as up, Client(upstreams={"svc": up.address}) as c:
        with use(CallContext(deadline=time.monotonic() - 1)), pytest.raises(DeadlineExceeded):
            await c.get("http://svc/")
    assert up.seen == []


async def test_context_headers_are_propagated_and_callers_win() -> None:
    ctx = CallContext(request_id="rid-1", traceparent=TRACEPARENT, tracestate="k=v")
    async with Upstream() as up, Client(upstreams={"orders": up.address}, b3=True) as c:
        with use(ctx):
            await c.get("http://orders/a", params={"y": "2"})
            await c.get("http://orders/b", headers={"X-Request-Id": "mine"})
    first, second = up.seen[0].headers, up.seen[1].headers
    assert first["x-request-id"] == "rid-1"
    assert first["traceparent"] == TRACEPARENT
    assert first["tracestate"] == "k=v"
    assert first["b3"] == "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"
    assert first["host"] == "orders"  # the upstream's name, not the endpoint's address
    assert up.seen[0].query == {"y": "2"}
    assert second["x-request-id"] == "mine"
    assert second["traceparent"] == TRACEPARENT


async def test_no_context_no_propagation_headers() -> None:
    async with Upstream() as up, Client() as c:
        await c.get(f"{up.url}/")
    assert not {"x-request-id", "traceparent", "b3"} & up.seen[0].headers.keys()


# -- the rest ------------------------------------------------------------------------------


async def test_sidecar_is_awaited_once_before_the_first_call() -> None:
    calls = []

    async def ready() -> None:
        calls.append(time.monotonic())
        await asyncio.sleep(0.05)

    async with Upstream() as up, Client(upstreams={"svc": up.address}, sidecar=ready) as c:
        assert calls == []
        await asyncio.gather(c.get("http://svc/"), c.get("http://svc/"))
        await c.get("http://svc/")
    assert len(calls) == 1
    assert len(up.seen) == 3


async def test_no_endpoints() -> None:
    async with Client(upstreams={"empty": []}) as c:
        with pytest.raises(NoEndpoints, match="empty"):
            await c.get("http://empty/")


async def test_metrics_are_exposed() -> None:
    name = unique("metered")
    async with (
        Upstream(failing(1, 502)) as up,
        Client(upstreams={name: up.address}, retry=FAST) as c,
    ):
        await c.get(f"http://{name}/")
        await c.request("PROPFIND", f"http://{name}/")
    labels = {"http_request_method": "GET", "server_address": name}
    duration = "http_client_request_duration_seconds_count"
    assert sample(duration, **labels, http_response_status_code="502") == 1
    assert sample(duration, **labels, http_response_status_code="200") == 1
    other = {**labels, "http_request_method": "_OTHER"}
    assert sample(duration, **other, http_response_status_code="200") == 1
    assert sample("covetpy_client_retries_total", upstream=name, reason="502") == 1
    text = prometheus_client.generate_latest().decode()
    for metric in (
        "http_client_request_duration_seconds_bucket",
        "covetpy_client_retries_total",
        "covetpy_client_retry_budget_exhausted_total",
        "covetpy_circuit_breaker_state",
        "covetpy_circuit_breaker_open_total",
    ):
        assert metric in text


async def test_a_real_host_works_without_upstreams() -> None:
    async with Upstream() as up, Client() as c:
        response = await c.put(f"{up.url}/thing", content=b"data")
        await c.head(f"{up.url}/thing")
        await c.options(f"{up.url}/thing")
        await c.delete(f"{up.url}/thing")
    assert response.text == "ok"
    assert [(s.method, s.body) for s in up.seen] == [
        ("PUT", b"data"),
        ("HEAD", b""),
        ("OPTIONS", b""),
        ("DELETE", b""),
    ]
    assert json.loads(json.dumps(up.seen[0].headers))["host"] == up.address


async def test_a_tracing_span_replaces_the_contexts_traceparent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    span_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"
    spans: list[tuple[str, dict[str, object]]] = []

    @contextlib.contextmanager
    def outbound_span(
        name: str, *, kind: str = "client", attributes: Mapping[str, object] | None = None
    ) -> Iterator[str]:
        spans.append((name, dict(attributes or {})))
        yield span_parent

    monkeypatch.setattr(client_module, "outbound_span", outbound_span)
    ctx = CallContext(request_id="rid-2", traceparent=TRACEPARENT)
    async with Upstream(failing(1, 503)) as up, Client(retry=FAST) as c:
        with use(ctx):
            await c.get(f"{up.url}/x")
    assert [s.headers["traceparent"] for s in up.seen] == [span_parent, span_parent]
    assert up.seen[0].headers["x-request-id"] == "rid-2"
    assert spans[0] == (
        "GET",
        {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": up.port,
            "url.full": f"{up.url}/x",
        },
    )
    assert spans[1][1]["http.request.resend_count"] == 1


async def test_upstreams_found_by_dns_and_consul() -> None:
    async with Upstream() as up:
        entries = [{"Node": {"Address": "127.0.0.1"}, "Service": {"Address": "", "Port": up.port}}]

        async def catalog(_: Seen) -> Reply:
            return Reply(200, {"content-type": "application/json"}, json.dumps(entries).encode())

        async with Upstream(catalog) as consul:
            upstreams = {
                "by-dns": Dns("localhost", up.port),  # ::1 may refuse: then 127.0.0.1
                "by-consul": Consul("orders", consul.url),
            }
            async with Client(upstreams=upstreams, retry=FAST) as c:
                assert (await c.get("http://by-dns/")).status_code == 200
                assert (await c.get("http://by-consul/")).status_code == 200
    assert [s.headers["host"] for s in up.seen] == ["by-dns", "by-consul"]


def test_metrics_work_in_prometheus_multiprocess_mode(tmp_path: Path) -> None:
    script = """
import asyncio
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from covetpy.mesh.breaker import BreakerPolicy
from covetpy.mesh.client import Client

async def main():
    async with Client(upstreams={"gone": "127.0.0.1:9"}, retry=None,
                      breaker=BreakerPolicy(consecutive_failures=1)) as c:
        try:
            await c.get("http://gone/")
        except Exception:
            pass

asyncio.run(main())
registry = CollectorRegistry()
multiprocess.MultiProcessCollector(registry)
print(generate_latest(registry).decode())
"""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert 'covetpy_circuit_breaker_state{upstream="gone"} 2.0' in out.stdout
    assert 'covetpy_circuit_breaker_open_total{upstream="gone"} 1.0' in out.stdout
    assert "http_client_request_duration_seconds_bucket" in out.stdout
