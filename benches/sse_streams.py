"""Server CPU of idle-ish Server-Sent Events streams: N streams, one event per second each.

    .venv/bin/python -m benches.sse_streams                    # 1,000 streams, 20 s
    .venv/bin/python -m benches.sse_streams --streams 1000 --seconds 20 --ping 0

Starts `covetpy run benches.apps.sse_covetpy:app --workers 1` pinned to CPU 0; this process,
pinned to CPU 1, opens the streams over raw sockets (asyncio) and counts the events received.
Once every stream has its first event it reads the user+system time of the server's processes
(supervisor and worker, all threads, /proc/<pid>/stat) around a window of `--seconds`, and
prints the server CPU as % of one core and the events received in the window. Issue 15's
target: 1,000 streams at one event/s cost <= 5 % of a core.
Writes benches/results/sse-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from benches.suite.machine import describe
from benches.suite.measure import (
    cpu_seconds,
    free_port,
    process_tree,
    start_covetpy,
    wait_until_answers,
)

ROOT = Path(__file__).resolve().parent.parent
CLIENT_CPU = 1
MARK = b"event: tick\n"


class Counter:
    """Events received over all streams, and the streams that got their first."""

    def __init__(self) -> None:
        self.events = 0
        self.started = 0
        self.failed = 0


async def stream(port: int, counter: Counter, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        counter.failed += 1
        return
    writer.write(b"GET /sse HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n")
    first = True
    tail = b""
    try:
        while not stop.is_set():
            data = await reader.read(65536)
            if not data:
                counter.failed += 1
                return
            # Count the `event: tick` lines; a read may end inside one (hence the tail).
            buf = tail + data
            seen = buf.count(MARK)
            tail = buf[-(len(MARK) - 1) :]  # too short to hold a whole mark: none counted twice
            if seen and first:
                counter.started += 1
                first = False
            counter.events += seen
    finally:
        writer.close()


async def drive(port: int, streams: int, seconds: float, server_pid: int) -> dict[str, float]:
    counter, stop = Counter(), asyncio.Event()
    tasks = []
    for _ in range(streams):
        tasks.append(asyncio.create_task(stream(port, counter, stop)))
        await asyncio.sleep(0)  # spread the connects a little
    deadline = time.monotonic() + 60
    while counter.started + counter.failed < streams and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # let the start-up burst settle into the once-a-second rhythm
    pids = process_tree(server_pid)
    cpu0, events0, t0 = cpu_seconds(pids), counter.events, time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, events1, t1 = cpu_seconds(pids), counter.events, time.monotonic()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = t1 - t0
    return {
        "streams_open": counter.started,
        "streams_failed": counter.failed,
        "window_s": round(wall, 2),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "server_cpu_pct_of_core": round((cpu1 - cpu0) / wall * 100, 2),
        "events_received": events1 - events0,
        "events_per_s": round((events1 - events0) / wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--ping", type=float, default=15.0, help="EventSourceResponse ping (0: off)")
    args = p.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    port = free_port()
    env = dict(
        os.environ, SSE_PING=str(args.ping), COVETPY_IO=os.environ.get("COVETPY_IO", "epoll")
    )
    server = start_covetpy("benches.apps.sse_covetpy:app", port, (), env)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/nope")
        result = asyncio.run(drive(port, args.streams, args.seconds, server.pid))
    finally:
        server.terminate()
        server.wait(30)
    result = {"streams": args.streams, "ping": args.ping, **result}
    print(
        f"{result['streams_open']} streams open ({result['streams_failed']} failed), "
        f"{result['events_received']} events in {result['window_s']} s "
        f"({result['events_per_s']}/s): server CPU {result['server_cpu_pct_of_core']} % "
        f"of a core (target <= 5 %)"
    )
    out = ROOT / "benches" / "results" / f"sse-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": describe(), "result": result}, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
