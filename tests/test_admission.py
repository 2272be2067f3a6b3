"""Admission control per request and health probes answered in Rust (issue 5)."""

from __future__ import annotations

import json
import re
import threading
import time

from tests.conftest import RunningServer, StartServer, read_response

APP = "tests.apps.guarded:app"


Answer = tuple[int, dict[str, str], bytes]


def get(server: RunningServer, path: str, timeout: float = 10.0) -> Answer:
    with server.connect(timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        return read_response(s, timeout)


def test_probes_answer_from_rust(start_server: StartServer) -> None:
    server = start_server(APP)
    status, headers, body = get(server, "/livez")
    assert (status, json.loads(body)) == (200, {"status": "alive"})
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    status, _, body = get(server, "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    # Only GET and HEAD are probes; other methods fall through to routing.
    with server.connect() as s:
        s.sendall(b"POST /livez HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        assert read_response(s)[0] == 404


def test_probes_answer_while_python_is_blocked(start_server: StartServer) -> None:
    server = start_server(APP)
    blocked = threading.Thread(target=get, args=(server, "/block?seconds=5&tag=hold"))
    blocked.start()
    try:
        server.wait_for_log("handler hold started")  # the handler now holds the Python thread
        assert get(server, "/livez")[0] == 200
        assert get(server, "/readyz")[0] == 200
        answered = time.monotonic()
    finally:
        blocked.join()
    # An ordering, not a duration: both probes were answered before the handler let go.
    server.wait_for_log("handler hold returns at ")
    (returned,) = re.findall(r"handler hold returns at ([\d.]+)", server.log)
    assert answered < float(returned), "the probes waited for the blocked Python thread"


def test_probe_paths_are_configurable(start_server: StartServer) -> None:
    server = start_server(APP, "--livez-path", "/health/live", "--readyz-path", "")
    assert get(server, "/health/live")[0] == 200
    assert get(server, "/livez")[0] == 404
    assert get(server, "/readyz")[0] == 404


# The queue timeout is long enough that "refused at once" and "waited in the queue" can be
# told apart on a busy machine, and the slots are held well past it.
QUEUE_TIMEOUT = 3.0
HOLD_SECONDS = 8.0


def test_beyond_the_bound_requests_queue_then_get_503(start_server: StartServer) -> None:
    server = start_server(
        APP, "--max-inflight", "2", "--queue-size", "1", "--queue-timeout", str(QUEUE_TIMEOUT)
    )
    results: dict[int, tuple[int, dict[str, str], float]] = {}

    def call(i: int, seconds: float) -> None:
        t = time.monotonic()
        status, headers, _ = get(server, f"/async-sleep?seconds={seconds}&tag=a{i}", timeout=60)
        results[i] = (status, headers, time.monotonic() - t)

    threads = [threading.Thread(target=call, args=(i, HOLD_SECONDS)) for i in range(2)]
    for th in threads:
        th.start()
    for i in range(2):
        server.wait_for_log(f"handler a{i} started")  # both slots taken
    # Two more: whichever reaches the gate first waits in the queue of one, the other finds it
    # full and is refused at once.
    extra = [threading.Thread(target=call, args=(i, 0)) for i in (2, 3)]
    for th in extra:
        th.start()
    for th in [*extra, *threads]:
        th.join()
    assert [results[i][0] for i in range(4)] == [200, 200, 503, 503], results
    for i in (2, 3):
        assert results[i][1]["retry-after"] == "3"  # the queue timeout, rounded up
        assert results[i][1]["content-type"] == "application/problem+json"
    refused, queued = sorted(results[i][2] for i in (2, 3))
    # A clock is needed to tell the two apart; the bounds are the queue timeout itself, which
    # is ~1000 times how long a refusal takes.
    assert queued >= QUEUE_TIMEOUT - 0.1, f"the queued one waits queue_timeout, {queued:.3f} s"
    assert refused < QUEUE_TIMEOUT, f"a full queue refuses at once, took {refused:.3f} s"
    # Slots come back: the server serves normally afterwards.
    assert get(server, "/fast")[0] == 200
    assert "503" in server.log
    assert server.stop() == 0
    assert "2 requests refused by admission control" in server.log


def test_idle_keep_alive_connections_hold_no_slot(start_server: StartServer) -> None:
    server = start_server(APP, "--max-inflight", "1", "--queue-size", "0")
    idle = []
    for _ in range(20):
        s = server.connect()
        s.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(s)[0] == 200
        idle.append(s)  # kept open, idle
    try:
        for s in idle:
            s.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(s)[0] == 200
    finally:
        for s in idle:
            s.close()


def test_a_refused_request_keeps_the_connection(start_server: StartServer) -> None:
    server = start_server(APP, "--max-inflight", "1", "--queue-size", "0")
    # The hog holds the only slot far longer than the next request takes to arrive.
    hog = threading.Thread(target=get, args=(server, "/async-sleep?seconds=3&tag=hog"))
    hog.start()
    try:
        server.wait_for_log("handler hog started")
        with server.connect() as s:
            s.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            status, headers, _ = read_response(s)
            assert status == 503 and "connection" not in headers
            hog.join()
            s.sendall(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(s)[0] == 200
    finally:
        hog.join()


def test_bad_admission_config_is_refused() -> None:
    import pytest

    from covetpy.config import ServerConfig

    with pytest.raises(ValueError, match="max_inflight"):
        ServerConfig(max_inflight=0)
    with pytest.raises(ValueError, match="livez_path"):
        ServerConfig(livez_path="livez")
