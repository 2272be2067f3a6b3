"""A rolling reload of `covetpy run` behind a real Envoy (tests/mesh/envoy.py).

Envoy's retries are off, so what the clients see is the service's own behaviour: a request
lost while the supervisor replaces its workers one by one (SIGHUP, adrs/0006) would reach the
client as a 503 from Envoy. One upstream with two workers; Envoy health-checks it on /readyz
the whole time, so a draining worker that answered a probe with 503 would take the whole
upstream out of rotation (Envoy sees one host, not its workers) and show up as 503s too.

(SIGTERM of one upstream while another stays is tests/mesh/test_envoy_health.py.)
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest

from tests.conftest import RunningServer, StartServer
from tests.mesh.envoy import Envoy, EnvoyConfig, Load

APP = "tests.apps.mesh_echo:app"
LOAD_SECONDS = 6.0

pytestmark = pytest.mark.timeout(60)


def _wait(
    what: str, predicate: Callable[[], object], server: RunningServer, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s\n{server.log}"
        time.sleep(0.02)


def _reloads(server: RunningServer) -> int:
    return server.log.count("reload complete")


def _workers(server: RunningServer) -> set[int]:
    return {int(p) for p in re.findall(r"worker (\d+) serving on", server.log)}


def test_two_rolling_reloads_behind_envoy_fail_no_request(start_server: StartServer) -> None:
    server = start_server(APP, workers=2)
    with Envoy(EnvoyConfig(upstreams=[server.port], retry=None)) as envoy:
        envoy.wait_healthy(server.port)
        first = _workers(server)
        watch = envoy.watch_health(server.port)
        with watch as flags, Load(envoy.url, clients=4, duration=LOAD_SECONDS + 15) as load:
            started = time.monotonic()
            _wait("answers through Envoy", lambda: len(load.answers) >= 50, server)
            for n in (1, 2):
                server.proc.send_signal(signal.SIGHUP)
                _wait(f"reload {n}", lambda: _reloads(server) >= n, server)  # noqa: B023
                time.sleep(0.5)  # load on the new workers before the next reload
            reloaded = time.monotonic()
            time.sleep(max(0.5, LOAD_SECONDS - (reloaded - started)))
        rq_5xx = envoy.counter("cluster.service.upstream_rq_5xx")
        hc_failures = envoy.counter("cluster.service.health_check.failure")
        resets = envoy.counter("cluster.service.upstream_cx_destroy_remote_with_active_rq")
        print(
            f"\n{load.report()}; Envoy: {rq_5xx} upstream 5xx, {hc_failures} failed health "
            f"checks, {resets} upstream connections closed with a request on them; "
            f"health flags sampled: {dict(flags)}"
        )
    # A draining worker that fails readiness (its /readyz, or x-envoy-immediate-health-check-fail
    # on its answers) takes the whole upstream out: Envoy sees one host, not its workers.
    assert set(flags) == {"healthy"}, f"the upstream left rotation during the reloads: {flags}"
    assert not load.failures, f"{load.report()}\n{server.log}"
    assert rq_5xx == 0, load.report()
    after = set(load.pids(reloaded + 0.5))
    assert after and not after & first, f"old workers still answer: {load.report()}"
    assert len(load.answers) > 100, load.report()
