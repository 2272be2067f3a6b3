"""The IO threads never take the GIL: while a handler holds it for two seconds, requests that
Rust answers by itself (no route, wrong method, malformed) are still answered at once."""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import RunningServer, read_response


def test_404_while_a_sync_handler_spins(server: RunningServer) -> None:
    spin_result: list[httpx.Response] = []
    spinner = threading.Thread(
        target=lambda: spin_result.append(httpx.get(server.url + "/spin", timeout=10))
    )
    spinner.start()
    # Wait until the handler is really running: the worker has taken the request.
    with server.connect() as s:
        deadline = time.monotonic() + 5
        started = False
        while time.monotonic() < deadline and not started:
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = read_response(s)
            assert status == 404
            started = True
        # The spin is now (or about to be) holding the GIL; measure several 404s during it.
        time.sleep(0.3)
        latencies = []
        for _ in range(5):
            t0 = time.perf_counter()
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = read_response(s)
            latencies.append(time.perf_counter() - t0)
            assert status == 404
    spinner.join(10)
    assert spin_result and spin_result[0].status_code == 200
    assert spin_result[0].text.startswith("spun ")
    # The spin started before the 404s and lasted 2 s; every 404 came back well inside it.
    assert max(latencies) < 0.1, latencies


def test_python_handlers_wait_their_turn_but_are_not_lost(server: RunningServer) -> None:
    results: list[int] = []
    spinner = threading.Thread(
        target=lambda: results.append(httpx.get(server.url + "/spin", timeout=10).status_code)
    )
    spinner.start()
    time.sleep(0.2)
    r = httpx.get(server.url + "/", timeout=10)
    spinner.join(10)
    assert r.status_code == 200
    assert results == [200]
