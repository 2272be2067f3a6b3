"""Event bus throughput and latency per backend: events/s published, events/s consumed and
end-to-end latency p50/p99, for `memory://`, Redis Streams and NATS JetStream (servers
started here on free loopback ports, as in the tests: Redis with AOF `appendfsync
everysec`, JetStream with file storage).

    .venv/bin/python -m benches.events [--events 10000] [--publishers 32] [--concurrency 64]
                                       [--rate 1000] [--latency-events 3000] [--backends …]

One process publishes and consumes, on one uvloop event loop, so the figures are what one
Python process achieves, client-side CPU included. Per backend:

1. published/s: `--events` events (a 100-byte payload) published by `--publishers`
   concurrent tasks, each awaiting the backend's acknowledgement, while no consumer runs (the
   consumer group exists already, so the events are kept for it);
2. consumed/s: a subscription with `--concurrency` slots then handles that backlog (the
   handler does nothing), time from start to the last event handled. `memory://` keeps no
   events for a group without consumers, so there the subscription runs while publishing and
   consumed/s counts from the first publish;
3. latency: `--latency-events` events published at `--rate` events/s while the subscription
   runs, from just before `publish` to the start of the handler.

Writes benches/results/events-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from covetpy.events import EventBus
from covetpy.events.testing import nats_server, redis_server

ROOT = Path(__file__).resolve().parent.parent


class Tick(msgspec.Struct):
    n: int
    sent: float
    pad: str = "x" * 64


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The three figures for one backend URL."""
    count = args.events
    received = 0
    latencies: list[float] = []
    all_in = asyncio.Event()
    target = count

    consumer = EventBus(url, service="bench", poll_interval=0.2)

    @consumer.subscribe("bench.>", name="sink", concurrency=args.concurrency)
    async def sink(event: Tick) -> None:
        nonlocal received
        if event.sent:
            latencies.append(time.perf_counter() - event.sent)
        received += 1
        if received >= target:
            all_in.set()

    publisher = EventBus(url, service="bench-publisher")
    await consumer.start()  # creates the group, so that nothing published is dropped
    overlapped = url.startswith("memory:")
    if not overlapped:  # stop consuming until the backlog is complete (a memory:// group
        await consumer.drain()  # ends with its last consumer: there it keeps consuming)

    async def publish_share(first: int, step: int) -> None:
        for n in range(first, count, step):
            await publisher.publish("bench.tick", Tick(n, 0.0), key=str(n % 16))

    started = time.perf_counter()
    await asyncio.gather(*(publish_share(i, args.publishers) for i in range(args.publishers)))
    publish_s = time.perf_counter() - started

    if not overlapped:
        started = time.perf_counter()
        await consumer.start()
    await asyncio.wait_for(all_in.wait(), 600)
    consume_s = time.perf_counter() - started

    received = 0
    target = args.latency_events
    all_in.clear()
    interval = 1.0 / args.rate
    began = time.perf_counter()
    for n in range(args.latency_events):
        due = began + n * interval
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        await publisher.publish("bench.tick", Tick(n, time.perf_counter()), key=str(n % 16))
    await asyncio.wait_for(all_in.wait(), 120)
    await consumer.close()
    await publisher.close()
    ms = [x * 1000 for x in latencies]
    return {
        "published_per_s": round(count / publish_s),
        "consumed_per_s": round(count / consume_s),
        "latency_ms": {
            "p50": round(percentile(ms, 0.50), 3),
            "p99": round(percentile(ms, 0.99), 3),
            "max": round(max(ms), 3),
            "mean": round(statistics.fmean(ms), 3),
        },
        "latency_rate_per_s": args.rate,
        "consumed_while_publishing": overlapped,
    }


def run_backend(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        if kind == "memory":
            url = f"memory://bench?queue_size={args.events + 1}"
        elif kind == "redis":
            url = stack.enter_context(redis_server(fsync="everysec")).url
        else:
            url = stack.enter_context(nats_server()).url
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            return runner.run(measure(url, args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--publishers", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--latency-events", type=int, default=3000)
    parser.add_argument("--backends", default="memory,redis,nats")
    args = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    machine = f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}"
    print(f"{machine}, Python {platform.python_version()}, commit {commit}")
    results: dict[str, Any] = {}
    for kind in args.backends.split(","):
        r = results[kind] = run_backend(kind, args)
        lat = r["latency_ms"]
        print(
            f"{kind:7} published {r['published_per_s']:>7,}/s  consumed {r['consumed_per_s']:>7,}/s"
            f"  latency at {args.rate:g}/s: p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms"
        )
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = ROOT / "benches" / "results" / f"events-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "command": " ".join(
                    [Path(sys.executable).name, "-m", "benches.events", *sys.argv[1:]]
                ),
                "machine": machine,
                "python": platform.python_version(),
                "commit": commit,
                "settings": vars(args),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
