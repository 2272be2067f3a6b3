"""Envoy in front of `covetpy run`, talking HTTP/2 to it in cleartext (h2c, prior knowledge):
the cluster's `envoy.extensions.upstreams.http.v3.HttpProtocolOptions` has
`explicit_http_config: {http2_protocol_options: {}}`, the usual sidecar set-up for gRPC and
HTTP/2 services. Clients reach Envoy's listener over HTTP/1.1.

What is pinned: requests, large bodies and streamed responses cross the h2c hop intact (Envoy
counts HTTP/2 upstream connections only); and a rolling reload (SIGHUP, adrs/0006) while
clients keep sending costs no request: the draining workers' GOAWAY(NO_ERROR) (RFC 9113 §6.8)
moves Envoy to new connections without a single 5xx.
"""

from __future__ import annotations

import hashlib
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, StartServer
from tests.http2.app import pattern
from tests.mesh.envoy import Envoy, EnvoyConfig, Load

APP = "tests.http2.app:app"
LOAD_SECONDS = 6.0

pytestmark = pytest.mark.timeout(180)


class H2cEnvoyConfig(EnvoyConfig):
    """tests/mesh/envoy.py's proxy with an HTTP/2 (h2c) upstream cluster."""

    def _cluster(self) -> dict[str, Any]:
        cluster = super()._cluster()
        options: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        }
        if self.upstream_idle_timeout is not None:
            options["common_http_protocol_options"] = {
                "idle_timeout": f"{self.upstream_idle_timeout:.3f}s"
            }
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options
        }
        return cluster


def _wait(
    what: str, predicate: Callable[[], object], server: RunningServer, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s\n{server.log}"
        time.sleep(0.02)


def test_requests_cross_the_h2c_hop(start_server: StartServer) -> None:
    """RFC 9113 §3.3 (prior knowledge): Envoy's upstream connections are HTTP/2 (Envoy's own
    counters; the handler sees version "2"); answers, a 1 MiB body both ways and a 404 pass
    intact."""
    server = start_server(APP)
    with Envoy(H2cEnvoyConfig(upstreams=[server.port], retry=None)) as envoy:
        envoy.wait_healthy(server.port)
        with httpx.Client(base_url=envoy.url, trust_env=False, timeout=30) as c:
            r = c.get("/")
            assert (r.status_code, r.text, r.http_version) == (200, "Hello, World!", "HTTP/1.1")
            assert c.get("/slow?ms=0").json()["version"] == "2"
            body = pattern(1 << 20)
            echoed = c.post("/echo", content=body)
            assert echoed.status_code == 200 and echoed.content == body
            got = c.post("/count", content=body).json()
            assert got == {"received": len(body), "sha256": hashlib.sha256(body).hexdigest()}
            assert c.get("/no/such/route").status_code == 404
        h2 = envoy.counter("cluster.service.upstream_cx_http2_total")
        h1 = envoy.counter("cluster.service.upstream_cx_http1_total")
    assert h2 >= 1 and h1 == 0, (h2, h1)


def test_streamed_response_through_envoy(start_server: StartServer) -> None:
    """RFC 9113 §6.9: a streamed response of 300 KB crosses the h2c hop whole (flow control
    between Envoy and the server, chunked to the HTTP/1.1 client)."""
    server = start_server(APP)
    expected = b"".join(f"chunk {i:04d}\n".encode() * 100 for i in range(300))
    with Envoy(H2cEnvoyConfig(upstreams=[server.port], retry=None)) as envoy:
        envoy.wait_healthy(server.port)
        with (
            httpx.Client(base_url=envoy.url, trust_env=False, timeout=30) as c,
            c.stream("GET", "/stream?chunks=300") as r,
        ):
            assert r.status_code == 200
            got = b"".join(r.iter_bytes())
    assert got == expected


def _reloads(server: RunningServer) -> int:
    return server.log.count("reload complete")


def _workers(server: RunningServer) -> set[int]:
    return {int(p) for p in re.findall(r"worker (\d+) serving on", server.log)}


def test_rolling_reload_over_h2c_fails_no_request(start_server: StartServer) -> None:
    """RFC 9113 §6.8 during a rolling reload (SIGHUP; two workers replaced one by one): each
    draining worker's GOAWAY(NO_ERROR) lets Envoy finish its streams there and open new
    connections to the new workers. Envoy's retries are off: a lost request would be a 503
    here. No 5xx, no connection error, and the new workers answer afterwards."""
    server = start_server(APP, workers=2)
    with Envoy(H2cEnvoyConfig(upstreams=[server.port], retry=None)) as envoy:
        envoy.wait_healthy(server.port)
        first = _workers(server)
        with Load(envoy.url, clients=4, path="/slow?ms=5", duration=LOAD_SECONDS + 30) as load:
            started = time.monotonic()
            _wait("answers through Envoy", lambda: len(load.answers) >= 50, server)
            server.proc.send_signal(signal.SIGHUP)
            _wait("the reload", lambda: _reloads(server) >= 1, server, timeout=60)
            reloaded = time.monotonic()
            time.sleep(max(1.0, LOAD_SECONDS - (reloaded - started)))  # load on the new workers
        rq_5xx = envoy.counter("cluster.service.upstream_rq_5xx")
        resets = envoy.counter("cluster.service.upstream_rq_rx_reset")
        h2 = envoy.counter("cluster.service.upstream_cx_http2_total")
        print(
            f"\n{load.report()}; Envoy: {rq_5xx} upstream 5xx, {resets} upstream resets, "
            f"{h2} HTTP/2 upstream connections"
        )
    assert not load.failures, f"{load.report()}\n{server.log}"
    assert rq_5xx == 0, load.report()
    assert h2 >= 2, "Envoy never reconnected over HTTP/2 after the reload"
    after = set(load.pids(reloaded + 0.5))
    assert after and not after & first, f"old workers still answer: {load.report()}"
    assert len(load.answers) > 100, load.report()
