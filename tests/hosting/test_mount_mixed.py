"""Native routes in front of a mounted ASGI app in one server (`App.mount`): native routes
win, the rest goes to the mount with its lifespan state, `covetpy routes` lists the mount,
`/metrics` labels its requests with the mount's prefix, and a drain under load answers every
request that was sent (none cut)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ROOT, RunningServer, running_server


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.hosting.apps.mixed_app:app", "--metrics") as server:
        yield server


def test_native_routes_win_and_the_rest_goes_to_the_mount(srv: RunningServer) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get("/items/7")
        assert r.json() == {"item_id": 7, "served_by": "native"}
        # The table's 405 (POST on a GET route) and a refused converter go to the legacy app.
        r = c.post("/items/7", content=b"abc")
        assert r.headers["x-served-by"] == "legacy"
        assert r.text == "legacy POST /items/7 3 started"
        assert c.get("/items/abc").text == "legacy GET /items/abc 0 started"
        assert c.delete("/anything/else").text == "legacy DELETE /anything/else 0 started"


def test_metrics_label_a_mounted_request_with_the_prefix(srv: RunningServer) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        c.get("/legacy-page")
        c.get("/items/1")
        text = c.get("/metrics").text
    routes = {
        line.split('http_route="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("http_server_request_duration_seconds_count") and "http_route" in line
    }
    assert routes >= {"/", "/items/{item_id}"}, text


def test_covetpy_routes_lists_the_mount_after_the_routes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "covetpy", "routes", "tests.hosting.apps.mixed_app:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line.split() for line in out.splitlines()[1:]]
    assert lines[-1][:2] == ["MOUNT", "/*"], out
    assert ["GET", "/items/{item_id:int}"] in [line[:2] for line in lines], out


@pytest.mark.timeout(120)
def test_a_drain_under_load_answers_every_request_sent() -> None:
    """Eight clients alternate native and mounted requests on keep-alive connections; the
    server is told to drain while they run. Every request either got its whole answer, or
    was never answered because its connection was closed between requests (a drained
    keep-alive connection), never cut in the middle of an answer; the server exits 0."""
    with running_server("tests.hosting.apps.mixed_app:app") as server:
        answered = [0]
        bad: list[str] = []
        lock = threading.Lock()
        started = threading.Barrier(9)

        def client(n: int) -> None:
            with httpx.Client(base_url=server.url, timeout=20) as c:
                started.wait()
                for i in range(400):
                    path = f"/items/{i}" if i % 2 else f"/legacy/{n}/{i}"
                    try:
                        r = c.post(path, content=b"x" * 100) if i % 4 == 0 else c.get(path)
                    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                        return  # the drain closed this connection between answers
                    ok = r.status_code == 200 and (
                        r.json()["item_id"] == i if i % 2 else r.text.startswith("legacy")
                    )
                    with lock:
                        if ok:
                            answered[0] += 1
                        else:
                            bad.append(f"{path}: {r.status_code} {r.text[:80]}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        started.wait()
        # Some answers first, so the drain meets requests in flight on both kinds of route.
        while True:
            with lock:
                if answered[0] >= 200:
                    break
            threading.Event().wait(0.01)
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        assert not bad, bad[:5]
        assert answered[0] >= 200
