"""`covetpy run` behind a real Envoy with active health checks on /readyz (tests/mesh/envoy.py).

What a mesh needs from the service: Envoy finds every upstream healthy, spreads requests over
them, and when one is told to stop (SIGTERM) it fails readiness *while still serving*, so Envoy
takes it out of rotation before it stops accepting: not one request fails through the proxy.
That ordering is `--pre-stop-delay` (python/covetpy/server/lifecycle.py); without it the
listener closes at the same moment readiness fails and requests routed in between are lost.

The last two tests check the harness end to end: the headers Envoy adds on the way to the
service, and the mTLS listener's x-forwarded-client-cert (tests/mesh/certs.py).
"""

from __future__ import annotations

import dataclasses
import re
import signal
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from covetpy.config import ServerConfig
from tests.conftest import StartServer, free_port
from tests.mesh.certs import CLIENT_DNS, CLIENT_SPIFFE_ID, make_pki
from tests.mesh.envoy import DownstreamTls, Envoy, EnvoyConfig, Load

APP = "tests.apps.mesh_echo:app"
PRE_STOP_DELAY = 5.0  # 25 health-check intervals (0.2 s): Envoy notices within it, busy or not

pytestmark = pytest.mark.timeout(60)


def _wait(what: str, predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.02)


def _get(envoy: Envoy, path: str = "/", headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(base_url=envoy.url, trust_env=False, timeout=5.0) as client:
        return client.get(path, headers=headers)


def test_upstreams_become_healthy_and_share_the_traffic(start_server: StartServer) -> None:
    a, b = start_server(APP), start_server(APP)
    with Envoy(EnvoyConfig(upstreams=[a.port, b.port])) as envoy:
        envoy.wait_healthy(a.port)
        envoy.wait_healthy(b.port)
        assert envoy.hosts() == {a.port: "healthy", b.port: "healthy"}
        with httpx.Client(base_url=envoy.url, trust_env=False, timeout=5.0) as client:
            served = Counter(client.get("/").json()["server"] for _ in range(20))
    assert set(served) == {a.proc.pid, b.proc.pid}, served


def test_an_upstream_that_is_down_gets_no_traffic(start_server: StartServer) -> None:
    a = start_server(APP)
    down = free_port()  # nothing listens there
    with Envoy(EnvoyConfig(upstreams=[a.port, down])) as envoy:
        envoy.wait_healthy(a.port)
        envoy.wait_healthy(down, want=False)
        statuses = Counter(_get(envoy).status_code for _ in range(10))
    assert statuses == {200: 10}


def _require_pre_stop_delay() -> None:
    if "pre_stop_delay" not in {f.name for f in dataclasses.fields(ServerConfig)}:
        pytest.fail(
            "waiting for `covetpy run --pre-stop-delay` "
            "(readiness fails first, the listener closes later)"
        )


def test_draining_upstream_leaves_rotation_without_failing_a_request(
    start_server: StartServer,
) -> None:
    """NEEDS `--pre-stop-delay`: fails until `covetpy run` keeps serving after readiness
    fails. Retries are off in Envoy, so every request lost by the service shows up."""
    _require_pre_stop_delay()
    delay = str(PRE_STOP_DELAY)
    a = start_server(APP, "--pre-stop-delay", delay)
    b = start_server(APP, "--pre-stop-delay", delay)
    with Envoy(EnvoyConfig(upstreams=[a.port, b.port])) as envoy:
        envoy.wait_healthy(a.port)
        envoy.wait_healthy(b.port)
        with Load(envoy.url, clients=4, duration=20) as load:
            _wait("both upstreams answering", lambda: len(load.servers()) == 2)
            a.proc.send_signal(signal.SIGTERM)
            took = envoy.wait_healthy(a.port, want=False, timeout=30)
            a.wait_for_log("draining")  # the listener closes after the pre-stop delay
            a.wait(15)
            gone = time.monotonic()
            _wait("b answering alone", lambda: load.servers(gone)[b.proc.pid] >= 50)
        rq_5xx = envoy.counter("cluster.service.upstream_rq_5xx")
        print(f"\nEnvoy marked the draining upstream unhealthy after {took:.3f} s; {load.report()}")
    assert not load.failures, load.report()
    assert rq_5xx == 0, load.report()
    assert set(load.servers(gone)) == {b.proc.pid}, load.report()
    assert load.servers()[a.proc.pid] > 0, load.report()


def test_envoy_adds_its_headers(start_server: StartServer) -> None:
    """Which headers reach the service through this proxy (listed in tests/mesh/envoy.py)."""
    a = start_server(APP)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen: dict[str, list[dict[str, str]]] = {}
    for role, edge in (("sidecar", False), ("edge", True)):
        config = EnvoyConfig(upstreams=[a.port], route_timeout=3.0, use_remote_address=edge)
        with Envoy(config) as envoy:
            envoy.wait_healthy(a.port)
            seen[role] = [
                _get(envoy, headers=sent).json()["headers"]
                for sent in (
                    {"traceparent": traceparent},
                    {"x-request-id": "client-chosen-id", "x-forwarded-for": "10.1.2.3"},
                )
            ]
    print(f"\nheaders the service received through Envoy: {seen}")
    for role, (plain, _) in seen.items():
        assert uuid.UUID(plain["x-request-id"]).version == 4, role
        assert plain["x-envoy-expected-rq-timeout-ms"] == "3000", role
        assert plain["x-forwarded-proto"] == "http", role
        assert plain["traceparent"] == traceparent, role  # passed through; no tracer
        assert "x-forwarded-client-cert" not in plain, role  # plain listener
    sidecar_plain, sidecar_chosen = seen["sidecar"]
    assert "x-forwarded-for" not in sidecar_plain
    assert sidecar_chosen["x-request-id"] == "client-chosen-id"
    assert sidecar_chosen["x-forwarded-for"] == "10.1.2.3"
    edge_plain, edge_chosen = seen["edge"]
    assert edge_plain["x-forwarded-for"]  # this machine's address, for a loopback client
    assert edge_plain["x-envoy-external-address"] == "127.0.0.1"
    assert edge_chosen["x-request-id"] != "client-chosen-id"  # external: not trusted
    assert edge_chosen["x-forwarded-for"].startswith("10.1.2.3,")


def _tls_client(ca: Path, cert: Path | None = None, key: Path | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return httpx.Client(verify=context, trust_env=False, timeout=5.0)


def test_mtls_listener_forwards_the_client_certificate(
    start_server: StartServer, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    a = start_server(APP)
    tls = DownstreamTls(cert=pki.server_cert, key=pki.server_key, ca=pki.ca_cert)
    with Envoy(EnvoyConfig(upstreams=[a.port], tls=tls)) as envoy:
        envoy.wait_healthy(a.port)
        with _tls_client(pki.ca_cert, pki.client_cert, pki.client_key) as client:
            # A client cannot forge the header: SANITIZE_SET replaces it.
            forged = {"x-forwarded-client-cert": "URI=spiffe://cluster.local/ns/x/sa/admin"}
            r = client.get(f"{envoy.url}/", headers=forged)
        with _tls_client(pki.ca_cert) as anonymous, pytest.raises(httpx.TransportError):
            anonymous.get(f"{envoy.url}/")
    assert r.status_code == 200, r.text
    xfcc = r.json()["headers"]["x-forwarded-client-cert"]
    print(f"\nx-forwarded-client-cert: {xfcc}")
    assert f"URI={CLIENT_SPIFFE_ID}" in xfcc
    assert f"DNS={CLIENT_DNS}" in xfcc
    assert re.search(r'Subject="[^"]*CN=frontend', xfcc), xfcc
    assert "ns/x/sa/admin" not in xfcc
