"""The service behind a real Envoy, as in a mesh: the client certificate's identity reaches
the handler, Envoy's timeouts and retries and the service's own deadline agree, and one
trace runs from the client through the service to its outbound call and its event."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartServer
from tests.mesh.certs import CLIENT_DNS, CLIENT_SPIFFE_ID, make_pki
from tests.mesh.envoy import DownstreamTls, Envoy, EnvoyConfig, RetryPolicy

FRONT = "tests.apps.mesh_front:app"
ECHO = "tests.apps.mesh_echo:app"
TRUST = ("--trusted-proxies", "127.0.0.1/32")


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """Environment variables for the servers started in a test (restored afterwards)."""
    saved = dict(os.environ)
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(saved)


def test_the_client_certificate_identity_reaches_the_handler(
    start_server: StartServer, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    front = start_server(FRONT, *TRUST)
    tls = DownstreamTls(cert=pki.server_cert, key=pki.server_key, ca=pki.ca_cert)
    with Envoy(EnvoyConfig(upstreams=[front.port], tls=tls, use_remote_address=True)) as envoy:
        envoy.wait_healthy(front.port)
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        with httpx.Client(verify=context, trust_env=False, timeout=5) as client:
            me = client.get(f"{envoy.url}/identity").json()
            admin = client.get(f"{envoy.url}/admin")
    assert me["spiffe_id"] == CLIENT_SPIFFE_ID
    assert CLIENT_DNS in me["dns"]
    assert "CN=frontend" in me["subject"]
    assert me["scheme"] == "https"  # Envoy's x-forwarded-proto, believed from a trusted hop
    # An authorization dependency on the identity.
    assert admin.status_code == 200 and admin.json() == {"spiffe_id": CLIENT_SPIFFE_ID}
    # Without trust in the proxy, the same header means nothing.
    untrusting = start_server(FRONT)
    forged = {"x-forwarded-client-cert": f"URI={CLIENT_SPIFFE_ID}"}
    me = httpx.get(f"{untrusting.url}/identity", headers=forged, timeout=5).json()
    assert me["spiffe_id"] is None
    r = httpx.get(f"{untrusting.url}/admin", headers=forged, timeout=5)
    assert r.status_code == 403
    # From a trusted hop, an identity outside the trust domain is refused too.
    outsider = {"x-forwarded-client-cert": "URI=spiffe://evil.example/ns/x/sa/y"}
    r = httpx.get(f"{front.url}/admin", headers=outsider, timeout=5)
    assert r.status_code == 403 and "not allowed" in r.json()["detail"]


def test_envoy_timeout_becomes_the_service_deadline(start_server: StartServer) -> None:
    front = start_server(FRONT)
    with Envoy(EnvoyConfig(upstreams=[front.port], route_timeout=30.0)) as envoy:
        envoy.wait_healthy(front.port)
        r = httpx.get(f"{envoy.url}/budget", timeout=60)
    assert r.status_code == 200
    # What is left of the route's 30 s when the handler runs: generous for a busy machine.
    assert 20 < r.json()["remaining"] <= 30.0


def test_a_retry_after_a_per_try_timeout_gets_the_per_try_budget(
    start_server: StartServer, env: dict[str, str]
) -> None:
    # The slow host never answers within a try, the fast one always does, even on a busy
    # machine: which host answered shows the try was cut, with no clock.
    env["MESH_SLOW"] = "10"
    slow = start_server(FRONT)
    env["MESH_SLOW"] = "0"
    fast = start_server(FRONT)
    fast_pid = httpx.get(f"{fast.url}/budget", timeout=30).json()["pid"]
    retry = RetryPolicy(retry_on="5xx,reset", num_retries=2, per_try_timeout=2.0)
    config = EnvoyConfig(upstreams=[slow.port, fast.port], route_timeout=30.0, retry=retry)
    with Envoy(config) as envoy:
        envoy.wait_healthy(slow.port)
        envoy.wait_healthy(fast.port)
        for _ in range(4):  # round robin: some requests try the slow host first
            r = httpx.get(f"{envoy.url}/budget", timeout=60)
            assert r.status_code == 200, r.text
            # The service was told the per-try budget, not the route's 30 s.
            assert r.json()["remaining"] <= 2.0
            assert r.json()["pid"] == fast_pid  # a try cut at 2 s, then the fast host
        assert envoy.counter("cluster.service.upstream_rq_retry") >= 1


def test_trace_and_request_id_flow_to_the_outbound_call_and_the_event(
    start_server: StartServer, env: dict[str, str]
) -> None:
    backend = start_server(ECHO)
    env["MESH_BACKEND"] = f"127.0.0.1:{backend.port}"
    front = start_server(FRONT)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with Envoy(EnvoyConfig(upstreams=[front.port])) as envoy:
        envoy.wait_healthy(front.port)
        r = httpx.post(
            f"{envoy.url}/orders",
            headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01", "x-request-id": "rq-1"},
            timeout=10,
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["trace_id"] == trace
    assert body["request_id"] == "rq-1"
    sent = body["backend_headers"]
    # The outbound call is a child of the front service's span, in the same trace.
    assert sent["traceparent"] == f"00-{trace}-{body['span_id']}-01"
    assert sent["x-request-id"] == "rq-1"
    assert int(sent["x-envoy-expected-rq-timeout-ms"]) <= 15000  # Envoy's default budget
    event = body["event"]
    assert event is not None
    assert event["request_id"] == "rq-1"
    assert event["traceparent"].split("-")[1] == trace
