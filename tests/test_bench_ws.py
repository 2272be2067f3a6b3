"""`covetpy bench ws://…` end to end: the Rust load generator's WebSocket modes against a tiny
echo and broadcast server (the `websockets` library, in this process), so the bench is tested
independently of CovetPy's own WebSocket server."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port

websockets = pytest.importorskip("websockets")
from websockets.asyncio.server import ServerConnection, broadcast, serve  # noqa: E402
from websockets.http11 import Request, Response  # noqa: E402


@dataclass
class WsServer:
    port: int
    subscribers: set[ServerConnection]

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


async def _handler(ws: ServerConnection, subscribers: set[ServerConnection]) -> None:
    path = ws.request.path if ws.request is not None else "/"
    if path == "/broadcast":
        # Every socket is a subscriber; what one sends goes to all (the sender too, which
        # is how the bench's closed-loop publisher knows its message went out).
        subscribers.add(ws)
        try:
            async for message in ws:
                broadcast(subscribers, message)
        finally:
            subscribers.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


def _refuse(ws: ServerConnection, request: Request) -> Response | None:
    if request.path == "/deny":
        return ws.respond(HTTPStatus.FORBIDDEN, "no\n")
    return None


@pytest.fixture(scope="module")
def server() -> Iterator[WsServer]:
    """The echo (any path) and broadcast (`/broadcast`) server on a thread of its own."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        subscribers: set[ServerConnection] = set()
        stop = asyncio.Event()
        state["stop"], state["loop"] = stop, asyncio.get_running_loop()
        async with serve(
            lambda ws: _handler(ws, subscribers),
            "127.0.0.1",
            0,
            process_request=_refuse,
            compression=None,
            max_size=None,
        ) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            state["server"] = WsServer(port, subscribers)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the websockets server did not start"
    yield state["server"]
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "covetpy", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _report(done: subprocess.CompletedProcess[str], out: Path) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def _percentiles_are_ordered(report: dict[str, Any]) -> None:
    lat = report["latency_us"]
    pcts = [lat["percentiles"][k] for k in ("50", "75", "90", "99", "99.9", "99.99")]
    assert 0 < lat["min"] <= pcts[0] and pcts == sorted(pcts) and pcts[-1] <= lat["max"]


def test_echo_counts_every_message(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "echo.json"
    done = bench(server.url("/echo"), "-c", "8", "-n", "2000", "--json", str(out))
    report = _report(done, out)
    assert report["requests"] == 2000 and report["errors_total"] == 0
    assert report["method"] == "WS echo" and report["status_counts"] == {}
    ws = report["ws"]
    assert ws == {
        "mode": "echo",
        "message_size": 1024,
        "binary": False,
        "publish_rate": None,
        "published": 0,
        "opened": 8,
    }
    # Message frames only (the upgrades are not counted): 1 KiB payloads behind 8-byte
    # client headers (16-bit length and mask) and 4-byte server headers.
    assert report["bytes_written"] == 2000 * (1024 + 8)
    assert report["bytes_read"] == 2000 * (1024 + 4)
    _percentiles_are_ordered(report)
    assert done.stdout.startswith("WS echo ws://127.0.0.1:")
    assert "Messages    2,000 echoes in" in done.stdout and "Errors      none" in done.stdout


def test_binary_window_threads_and_progress(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "bin.json"
    done = bench(
        server.url("/"), "-c", "4", "-t", "2", "-d", "1200ms", "--pipeline", "8", "--binary",
        "--message-size", "70000", "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["threads"] == 2 and report["pipeline"] == 8
    assert report["ws"]["binary"] is True and report["ws"]["message_size"] == 70000
    assert report["requests"] > 0 and report["errors_total"] == 0
    assert re.search(r"\[\s*1\.0s\] [\d,]+ requests, [\d,]+ req/s, 0 errors", done.stderr)


def test_echo_at_a_constant_rate(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "rate.json"
    done = bench(server.url("/"), "-c", "4", "-d", "1s", "--rate", "400", "--json", str(out))
    report = _report(done, out)
    assert report["rate"] == 400 and report["errors_total"] == 0
    assert report["requests_per_s"] == pytest.approx(400, rel=0.15)
    assert "latency counts from intended send times" in done.stdout


def test_subscribers_get_every_published_message(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "sub.json"
    done = bench(
        server.url("/broadcast"), "--ws-mode", "subscribe", "-c", "10", "-n", "50",
        "--publish-rate", "200", "--message-size", "64", "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["ws"]["published"] == 50 and report["ws"]["publish_rate"] == 200
    assert report["requests"] == 10 * 50 and report["errors_total"] == 0
    assert report["latency_us"]["percentiles"]["50"] > 0
    _percentiles_are_ordered(report)
    assert "500 deliveries" in done.stdout and "publish to delivery" in done.stdout


def test_closed_loop_publisher_and_binary_stamps(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "max.json"
    done = bench(
        server.url("/broadcast"), "--ws-mode", "subscribe", "-c", "20", "-d", "1s",
        "--publish-rate", "max", "--pipeline", "2", "--binary", "--message-size", "8",
        "--json", str(out),
    )  # fmt: skip
    report = _report(done, out)
    assert report["ws"]["publish_rate"] == "max" and report["ws"]["published"] > 0
    assert report["requests"] > 0 and report["errors_total"] == 0
    # Each published message reaches the 20 subscribers. The last few may still be on their
    # way when the run ends: the publisher retires a message when its own copy comes back,
    # and on a loaded machine other subscribers' copies can come after (CI, a busy core: 15
    # deliveries short of `published - 2`).
    assert report["requests"] >= 20 * (report["ws"]["published"] - 5)
    _percentiles_are_ordered(report)


def test_outside_publisher(server: WsServer, tmp_path: Path) -> None:
    """Without --publish-rate the subscribers count what another program publishes; the
    latency is unknown then."""
    out = tmp_path / "outside.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "covetpy", "bench", server.url("/broadcast"), "--ws-mode",
         "subscribe", "-c", "3", "-d", "3s", "-q", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    async def publish() -> None:
        from websockets.asyncio.client import connect

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(server.subscribers) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        async with connect(server.url("/broadcast")) as ws:
            for _ in range(5):
                await ws.send("hello from outside")
                await ws.recv()  # its own broadcast: the others have theirs by now

    asyncio.run(publish())
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    report = json.loads(out.read_text())
    assert report["requests"] == 15 and report["ws"]["published"] == 0
    assert report["latency_us"]["max"] == 0
    assert "Latency     not known" in stdout


def test_refused_upgrade_counts_errors(server: WsServer, tmp_path: Path) -> None:
    out = tmp_path / "deny.json"
    done = bench(server.url("/deny"), "-c", "2", "-n", "5", "-q", "--timeout", "1s",
                 "--json", str(out))  # fmt: skip
    report = _report(done, out)
    assert report["requests"] == 0 and report["errors"]["parse"] == 5
    assert report["ws"]["opened"] == 0


def test_nothing_listening(tmp_path: Path) -> None:
    out = tmp_path / "down.json"
    done = bench(f"ws://127.0.0.1:{free_port()}/", "-c", "2", "-n", "3", "-q",
                 "--timeout", "1s", "--json", str(out))  # fmt: skip
    report = _report(done, out)
    assert report["requests"] == 0 and report["errors"]["connect"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wss://127.0.0.1/"], "wss is not supported"),
        (["http://127.0.0.1:1/", "--binary"], "only apply to ws:// URLs"),
        (["ws://127.0.0.1:1/", "--publish-rate", "10"], "is for --ws-mode subscribe"),
        (["ws://127.0.0.1:1/", "--ws-mode", "subscribe", "-n", "5"], "needs the bench's"),
        (["ws://127.0.0.1:1/", "--ws-mode", "subscribe", "--rate", "5"], "--publish-rate"),
        (
            ["ws://127.0.0.1:1/", "--ws-mode", "subscribe", "--publish-rate", "max",
             "--message-size", "8"],
            "at least 16 bytes",
        ),
        (["ws://127.0.0.1:1/", "--publish-rate", "fast"], "use messages/s or max"),
        (["ws://127.0.0.1:1/", "--publish-rate", "0"], "must be positive"),
    ],
)  # fmt: skip
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    done = bench(*args)
    assert done.returncode == 2
    assert message in done.stderr
