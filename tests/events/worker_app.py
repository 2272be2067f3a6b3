"""A consumer process for the event bus tests: prints one JSON line per event it handles.

`python -m tests.events.worker_app URL --service S [--pattern P] [--concurrency N]
[--redeliver-after SECONDS] [--delay SECONDS]`

Lines: `{"ready": pid}` once consuming; `{"started": id, "n": …, "attempt": …}` when a handler
begins; `{"handled": id, …}` when it ends. An event whose data has `"hang": true` hangs on its
first delivery (to be killed mid-message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from covetpy.events import Envelope, EventBus, context, serve


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--service", required=True)
    parser.add_argument("--pattern", default="orders.>")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--redeliver-after", type=float, default=30.0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    bus = EventBus(args.url, service=args.service, drain_timeout=10)
    pid = os.getpid()

    @bus.subscribe(
        args.pattern,
        name="worker",
        concurrency=args.concurrency,
        redeliver_after=args.redeliver_after,
    )
    async def handle(event: dict[str, Any], envelope: Envelope) -> None:
        attempt = context.attempt.get()
        say(started=envelope.id, n=event.get("n"), attempt=attempt, pid=pid)
        if event.get("hang") and attempt == 1:
            await asyncio.sleep(3600)
        if args.delay:
            await asyncio.sleep(args.delay)
        say(handled=envelope.id, n=event.get("n"), attempt=attempt, pid=pid)

    async def ready() -> None:
        say(ready=pid)

    asyncio.run(serve(bus, on_ready=ready))


if __name__ == "__main__":
    main()
