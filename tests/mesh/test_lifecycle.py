"""The worker's life with a sidecar: start-up and readiness probes, waiting for the sidecar,
the SIGTERM sequence (readiness first, pre-stop delay, drain, exit deadline), and what the
server resolves per request (trusted proxies, trace context, deadlines)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, StartServer, read_response

APP = "tests.apps.mesh_life:app"


def get(server: RunningServer, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(server.url + path, timeout=30, **kw)


@pytest.fixture
def flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "flag"
    monkeypatch.setenv("MESH_LIFE_FLAG", str(path))
    return path


def test_probes_follow_readiness_checks(start_server: StartServer, flag: Path) -> None:
    server = start_server(APP, "--readiness-interval", "0.1")
    assert get(server, "/startupz").status_code == 200
    assert get(server, "/readyz").json() == {"status": "ready"}
    flag.touch()  # the check now raises
    deadline = time.monotonic() + 30
    while (r := get(server, "/readyz")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 503
    assert r.json() == {
        "status": "not ready",
        "reason": "database: ConnectionError: database unreachable",
    }
    # Liveness never looks at dependencies; requests are still served, and tell the proxy.
    assert get(server, "/livez").status_code == 200
    r = get(server, "/")
    assert r.status_code == 200
    assert r.headers["x-envoy-immediate-health-check-fail"] == "true"
    flag.unlink()
    deadline = time.monotonic() + 30
    while (r := get(server, "/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200
    assert "x-envoy-immediate-health-check-fail" not in get(server, "/").headers


class _Sidecar(BaseHTTPRequestHandler):
    ready = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200 if self.ready.is_set() else 503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sidecar() -> Iterator[tuple[str, threading.Event]]:
    ready = threading.Event()
    handler = type("Sidecar", (_Sidecar,), {"ready": ready})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ready", ready
    httpd.shutdown()
    httpd.server_close()


def test_waits_for_the_sidecar_before_reporting_ready(
    sidecar: tuple[str, threading.Event], start_server: StartServer
) -> None:
    url, ready = sidecar
    server = start_server(APP, "--wait-for-sidecar", url, "--sidecar-timeout", "20", wait=False)
    try:
        server.wait_for_log("waiting for the sidecar")
        # Up and alive, but neither started nor ready while the sidecar is not.
        for path, status in (("/livez", 200), ("/startupz", 503), ("/readyz", 503)):
            assert get(server, path).status_code == status, path
        ready.set()
        server.wait_for_log("covetpy serving")
        assert get(server, "/startupz").status_code == 200
        assert get(server, "/readyz").status_code == 200
    finally:
        assert server.stop() == 0, server.log


def test_a_sidecar_that_never_comes_fails_start_up(
    sidecar: tuple[str, threading.Event], start_server: StartServer
) -> None:
    url, _ = sidecar
    server = start_server(APP, "--wait-for-sidecar", url, "--sidecar-timeout", "0.5", wait=False)
    try:
        server.wait_for_log("was not ready within 0.5 s", timeout=15)
    finally:
        server.stop(signal.SIGTERM)


def test_sigterm_fails_readiness_first_then_drains(start_server: StartServer) -> None:
    # The pre-stop delay is long enough for the checks made during it on a busy machine.
    server = start_server(APP, "--pre-stop-delay", "3.0")
    assert get(server, "/readyz").status_code == 200
    slow: list[httpx.Response] = []
    # In flight across the whole sequence: it finishes during the drain.
    t = threading.Thread(
        target=lambda: slow.append(httpx.get(server.url + "/slow?ms=6000", timeout=30))
    )
    t.start()
    server.wait_for_log("slow 6000 ms started")
    server.proc.send_signal(signal.SIGTERM)
    server.wait_for_log("shutting down: not ready now")
    # During the pre-stop delay: not ready, still serving (new connections too).
    r = httpx.get(server.url + "/readyz", timeout=5)
    assert r.status_code == 503
    assert r.json()["reason"] == "shutting down"
    r = httpx.get(server.url + "/", timeout=5)
    assert r.status_code == 200
    assert r.headers["x-envoy-immediate-health-check-fail"] == "true"
    server.wait_for_log("draining (deadline")
    # After it: the listener is closed (the IO thread drops it on its next turn).
    deadline = time.monotonic() + 30
    refused = False
    while not refused and time.monotonic() < deadline:
        try:
            httpx.get(server.url + "/", timeout=2)
            time.sleep(0.02)
        except httpx.ConnectError:
            refused = True
    assert refused
    t.join(30)
    assert slow and slow[0].status_code == 200 and slow[0].text == "done"
    assert slow[0].headers.get("connection") == "close"
    assert server.wait(30) == 0, server.log


def test_a_unix_socket_accepts_during_the_pre_stop_delay(
    start_server: StartServer, tmp_path: Path
) -> None:
    path = str(tmp_path / "svc.sock")
    # Long enough to connect during it on a busy machine.
    server = start_server(APP, "--pre-stop-delay", "3.0", uds=path)
    server.proc.send_signal(signal.SIGTERM)
    server.wait_for_log("shutting down: not ready now")
    # A sidecar connecting by path during the delay is still served (the path used to be
    # removed at SIGTERM, so it got "no such file").
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, _ = read_response(s)
    assert status == 200
    assert server.wait(30) == 0, server.log
    assert not os.path.exists(path)


def test_the_shutdown_deadline_ends_a_stuck_drain(start_server: StartServer) -> None:
    server = start_server(APP, "--shutdown-deadline", "1.0", "--drain-timeout", "30")
    outcome: list[BaseException] = []

    def stuck() -> None:
        try:
            httpx.get(server.url + "/slow?ms=20000", timeout=30)
        except httpx.HTTPError as exc:  # abandoned at the deadline: the worker exits
            outcome.append(exc)

    t = threading.Thread(target=stuck, daemon=True)
    t.start()
    server.wait_for_log("slow 20000 ms started")
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.wait(60)
    took = time.monotonic() - start
    # Ended by the 1 s deadline, not by the handler (20 s) or the drain timeout (30 s): a
    # clock tells them apart, with a bound ten times the expected.
    assert took < 10, server.log
    assert "shutdown deadline (1.0 s) passed" in server.log
    t.join(30)
    assert outcome and isinstance(outcome[0], httpx.RemoteProtocolError)


def test_forwarding_headers_are_believed_only_from_trusted_proxies(
    start_server: StartServer,
) -> None:
    headers = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
    plain = start_server(APP)
    me = get(plain, "/whoami", headers=headers).json()
    assert me["client"][0] == "127.0.0.1" and me["scheme"] == "http"
    trusting = start_server(APP, "--trusted-proxies", "127.0.0.1/32")
    me = get(trusting, "/whoami", headers=headers).json()
    assert me["client"] == ["203.0.113.9", 0]
    assert me["peer"][0] == "127.0.0.1"
    assert me["scheme"] == "https"
    me = get(
        trusting, "/whoami", headers={"forwarded": 'for="[2001:db8::7]:4711";host=shop.example'}
    ).json()
    assert me["client"] == ["2001:db8::7", 4711] and me["host"] == "shop.example"


def test_trace_context_is_continued_or_started(start_server: StartServer) -> None:
    server = start_server(APP)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    me = get(server, "/whoami", headers={"traceparent": parent, "tracestate": "v=1"}).json()
    assert me["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert me["parent_span_id"] == "00f067aa0ba902b7"
    assert me["span_id"] not in ("00f067aa0ba902b7", "0" * 16)
    assert me["traceparent"] == f"00-{me['trace_id']}-{me['span_id']}-01"
    assert me["tracestate"] == "v=1"
    fresh = get(server, "/whoami", headers={"traceparent": "00-zz-bad-01"}).json()
    assert fresh["parent_span_id"] is None and len(fresh["trace_id"]) == 32
    assert fresh["trace_id"] != me["trace_id"]


def test_the_smallest_deadline_wins(start_server: StartServer) -> None:
    # Budgets in tens of seconds: what a busy machine takes to reach the handler is well
    # inside the ranges (the remaining time is read off a clock).
    server = start_server(APP, "--request-timeout", "60")
    me = get(server, "/whoami", headers={"x-envoy-expected-rq-timeout-ms": "30000"}).json()
    assert 20 < me["remaining"] <= 30
    me = get(server, "/whoami", headers={"grpc-timeout": "15S"}).json()
    assert 5 < me["remaining"] <= 15
    assert get(server, "/whoami").json()["remaining"] > 50
    start = time.monotonic()
    r = get(server, "/slow?ms=30000", headers={"x-envoy-expected-rq-timeout-ms": "200"})
    assert r.status_code == 504
    # Cut at the caller's 0.2 s, not at the handler's end (30 s) nor the route's 60 s.
    assert time.monotonic() - start < 10


def test_the_deadline_counts_from_the_request_head(start_server: StartServer) -> None:
    """Time spent receiving the body is part of the caller's budget: the 504 comes at the
    deadline from the head's arrival, not that long after the handler started."""
    server = start_server(APP)
    # The question is itself about time. Counted from the head, the 504 comes at 4 s; counted
    # from dispatch (after the body), at 7.5 s: the bound sits between, 2 s from the right one.
    with server.connect() as s:
        start = time.monotonic()
        s.sendall(
            b"POST /slow?ms=20000 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
            b"x-envoy-expected-rq-timeout-ms: 4000\r\n\r\n"
        )
        time.sleep(3.5)  # the body arrives 3.5 s later
        s.sendall(b"body")
        status, _, body = read_response(s, timeout=30)
        took = time.monotonic() - start
    assert status == 504, body
    assert b"4 s" in body
    assert took < 6, f"504 after {took:.2f} s: counted from dispatch, not from the head"
