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
        target=lambda: spin_result.append(httpx.get(server.url + "/spin", timeout=30))
    )
    spinner.start()
    server.wait_for_log("spin started")  # the handler holds the GIL from now on
    with server.connect() as s:
        for _ in range(5):
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = read_response(s)
            assert status == 404
        answered = time.monotonic()
    spinner.join(30)
    assert spin_result and spin_result[0].status_code == 200
    assert spin_result[0].text.startswith("spun ")
    # An ordering, not a duration: every 404 came back before the spin let go of the GIL.
    assert answered < float(spin_result[0].text.rsplit(" ", 1)[1])


def test_python_handlers_wait_their_turn_but_are_not_lost(server: RunningServer) -> None:
    results: list[int] = []
    spinner = threading.Thread(
        target=lambda: results.append(httpx.get(server.url + "/spin", timeout=30).status_code)
    )
    spinner.start()
    server.wait_for_log("spin started")
    r = httpx.get(server.url + "/", timeout=30)
    spinner.join(30)
    assert r.status_code == 200
    assert results == [200]
