"""`/metrics` of a server with several workers: every worker's requests are in one scrape,
by route template, and the counts add up to the requests sent."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import StartServer, free_port

APP = "tests.apps.mesh_life:app"


def samples(text: str, name: str) -> dict[str, float]:
    """`{labels: value}` of the samples of metric `name` in Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def send(url: str, n: int) -> set[int]:
    """`n` requests over fresh connections (so both workers' sockets get some); their pids."""

    def one(i: int) -> int:
        with httpx.Client(timeout=5) as c:
            r = c.get(f"{url}/pid/{i}")
            assert r.status_code == 200
            return int(r.json()["pid"])

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(n)))


def test_counts_add_up_across_two_workers(start_server: StartServer) -> None:
    admin = free_port()
    server = start_server(APP, "--metrics", "--admin-port", str(admin), workers=2)
    pids = send(server.url, 300)
    assert len(pids) == 2, "both workers should have served some of the requests"
    for _ in range(3):
        assert httpx.get(server.url + "/nowhere", timeout=5).status_code == 404
    text = httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
    counts = samples(text, "http_server_request_duration_seconds_count")
    route = '{http_request_method="GET",http_response_status_code="200",http_route="/pid/{n}"}'
    assert counts[route] == 300
    assert counts['{http_request_method="GET",http_response_status_code="404"}'] == 3
    # Histograms are consistent: +Inf bucket == count, buckets cumulative.
    buckets = samples(text, "http_server_request_duration_seconds_bucket")
    inf = route.replace('"}', '",le="+Inf"}')
    assert buckets[inf] == 300
    # Raw paths never become labels; probes are not counted.
    assert "/pid/1" not in text and "readyz" not in text
    assert samples(text, "http_server_active_requests") == {"": 0}
    # The admin port also answers the probes (readiness asked of a worker).
    for probe in ("/livez", "/readyz", "/startupz"):
        assert httpx.get(f"http://127.0.0.1:{admin}{probe}", timeout=5).status_code == 200
    # With an admin port, /metrics lives only there.
    assert httpx.get(server.url + "/metrics", timeout=5).status_code == 404


def test_metrics_on_the_service_port_without_admin_port(start_server: StartServer) -> None:
    server = start_server(APP, "--metrics", workers=2)
    send(server.url, 50)
    text = httpx.get(server.url + "/metrics", timeout=5).text
    counts = samples(text, "http_server_request_duration_seconds_count")
    route = '{http_request_method="GET",http_response_status_code="200",http_route="/pid/{n}"}'
    assert counts[route] == 50
    assert httpx.get(server.url + "/openapi.json").json()["paths"].get("/metrics") is None


def test_a_streamed_answer_records_its_body_size_once_sent(start_server: StartServer) -> None:
    server = start_server(APP, "--metrics")
    for n in (4, 6):
        r = httpx.get(f"{server.url}/stream?n={n}", timeout=5)
        assert r.status_code == 200 and len(r.content) == 7 * n
    text = httpx.get(server.url + "/metrics", timeout=5).text
    route = '{http_request_method="GET",http_response_status_code="200",http_route="/stream"}'
    assert samples(text, "http_server_response_body_size_bytes_count")[route] == 2
    # Body bytes, without the chunked framing (it used to record 0 for a streamed body).
    assert samples(text, "http_server_response_body_size_bytes_sum")[route] == 7 * (4 + 6)


def test_a_killed_workers_metrics_file_is_marked_closed(start_server: StartServer) -> None:
    # Its in-flight gauge must stop counting even if another process gets its pid later;
    # the supervisor marks the file closed when it reaps the worker (word 3 of the header).
    admin = free_port()
    server = start_server(APP, "--metrics", "--admin-port", str(admin))
    pid = int(httpx.get(server.url + "/pid/1", timeout=5).json()["pid"])
    [path] = glob.glob(f"/dev/shm/covetpy-metrics-*/covetpy-{pid}.metrics") or glob.glob(
        f"/tmp/covetpy-metrics-*/covetpy-{pid}.metrics"
    )

    def closed() -> int:
        with open(path, "rb") as f:
            return int(struct.unpack("<8Q", f.read(64))[3])

    assert closed() == 0

    def in_flight() -> None:
        with contextlib.suppress(httpx.HTTPError):  # cut by the kill
            httpx.get(server.url + "/slow?ms=60000", timeout=90)

    threading.Thread(target=in_flight, daemon=True).start()
    deadline = time.monotonic() + 30
    active = "http_server_active_requests"
    while samples(httpx.get(f"http://127.0.0.1:{admin}/metrics").text, active) != {"": 1}:
        assert time.monotonic() < deadline, "the slow request never showed as in flight"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    server.wait_for_log(f"worker {pid} died")
    deadline = time.monotonic() + 30
    while closed() != 1:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.02)
    assert samples(httpx.get(f"http://127.0.0.1:{admin}/metrics").text, active) == {"": 0}
