"""The producer of benches/tasks.py, shared by every system: `python -m
benches.tasks_apps.<system>_app produce …` runs `main` with that system's way to enqueue
(the broker's URL is `BENCH_TASKS_URL`, as for the worker).

1. `--warmup` tasks are enqueued (they warm the worker and this client's connections);
2. it waits for `--go` to exist (benches/tasks.py writes it once the worker has run the
   warm-up and its CPU time has been read);
3. `--count` tasks, each `sent_at=time.time()` at the call and a 1 KiB payload:
   - throughput (no `--rate`): as fast as the client allows. Async clients: `--concurrency`
     coroutines (64) each awaiting one enqueue after the other; sync clients: a loop in each
     of `--threads` threads (1 unless said);
   - paced (`--rate R`): the i-th task is due at start + i/R; whatever is due is sent, then
     it sleeps until the next is due (async: each enqueue a task of its own, at most 1,024
     outstanding; sync: in the loop);
4. one JSON line on stdout: `first_enqueue`, `last_enqueued` (time.time() when the last
   enqueue returned), `enqueued`, `errors` (with the first error's text), `cpu_s` (this
   process's user+system time over step 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAYLOAD = "x" * 1024
OUTSTANDING = 1024

AsyncEnqueue = Callable[[float, str], Awaitable[Any]]
SyncSend = Callable[[float, str], Any]


@dataclass
class Tally:
    """What step 3 did; shared by the enqueuing coroutines or threads."""

    enqueued: int = 0
    errors: int = 0
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = f"{type(exc).__name__}: {exc}"[:300]

    def done(self) -> None:
        with self.lock:
            self.enqueued += 1


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benches.tasks_apps.<system>_app produce")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.0, help="tasks/s; 0: as fast as possible")
    p.add_argument("--concurrency", type=int, default=64, help="async enqueuers")
    p.add_argument("--threads", type=int, default=1, help="sync senders")
    p.add_argument("--go", required=True, help="file to wait for after the warm-up")
    p.add_argument("--deadline", type=float, default=120.0, help="seconds to wait for --go")
    return p.parse_args(argv)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait_for(path: str, deadline: float) -> None:
    end = time.monotonic() + deadline
    while not Path(path).exists():
        if time.monotonic() > end:
            raise TimeoutError(f"{path} did not appear in {deadline:g} s")
        time.sleep(0.005)


def _report(first: float, last: float, cpu: float, tally: Tally) -> None:
    out = {
        "first_enqueue": first,
        "last_enqueued": last,
        "enqueued": tally.enqueued,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "cpu_s": cpu,
    }
    print(json.dumps(out), flush=True)


async def _one(enqueue: AsyncEnqueue, tally: Tally) -> None:
    try:
        await enqueue(time.time(), PAYLOAD)
    except Exception as exc:
        tally.failed(exc)
    else:
        tally.done()


async def run_async(
    args: argparse.Namespace,
    enqueue: AsyncEnqueue,
    setup: Callable[[], Awaitable[None]] | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Steps 1-4 for a client whose enqueue is a coroutine."""
    if setup is not None:
        await setup()
    try:
        warm = Tally()
        await asyncio.gather(*(_one(enqueue, warm) for _ in range(args.warmup)))
        if warm.errors:
            raise RuntimeError(f"warm-up enqueue failed: {warm.first_error}")
        await asyncio.to_thread(_wait_for, args.go, args.deadline)
        tally = Tally()
        cpu, first = _cpu(), time.time()
        if args.rate <= 0:
            remaining = iter(range(args.count))

            async def enqueuer() -> None:
                for _ in remaining:
                    await _one(enqueue, tally)

            await asyncio.gather(*(enqueuer() for _ in range(args.concurrency)))
        else:
            slots = asyncio.Semaphore(OUTSTANDING)
            pending: set[asyncio.Task[None]] = set()

            async def paced_one() -> None:
                try:
                    await _one(enqueue, tally)
                finally:
                    slots.release()

            start = time.monotonic()
            for i in range(args.count):
                delay = start + i / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                task = asyncio.create_task(paced_one())
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
        last = time.time()
        _report(first, last, _cpu() - cpu, tally)
    finally:
        if close is not None:
            await close()


def run_sync(args: argparse.Namespace, send: SyncSend) -> None:
    """Steps 1-4 for a client whose send blocks (Celery's `delay`, dramatiq's `send`)."""

    def one(tally: Tally) -> None:
        try:
            send(time.time(), PAYLOAD)
        except Exception as exc:
            tally.failed(exc)
        else:
            tally.done()

    warm = Tally()
    for _ in range(args.warmup):
        one(warm)
    if warm.errors:
        raise RuntimeError(f"warm-up send failed: {warm.first_error}")
    _wait_for(args.go, args.deadline)
    tally = Tally()
    cpu, first = _cpu(), time.time()
    if args.rate <= 0:
        shares = [args.count // args.threads] * args.threads
        shares[0] += args.count - sum(shares)

        def loop(n: int) -> None:
            for _ in range(n):
                one(tally)

        if args.threads == 1:
            loop(args.count)
        else:
            threads = [threading.Thread(target=loop, args=(n,)) for n in shares]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    else:
        start = time.monotonic()
        for i in range(args.count):
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            one(tally)
    _report(first, time.time(), _cpu() - cpu, tally)


def main(argv: list[str], run: Callable[[argparse.Namespace], None]) -> int:
    """`<system>_app produce …`: parses the options and hands them to the system's `run`."""
    if not argv or argv[0] != "produce":
        print("usage: python -m benches.tasks_apps.<system>_app produce …", file=sys.stderr)
        return 2
    run(_args(argv[1:]))
    return 0
