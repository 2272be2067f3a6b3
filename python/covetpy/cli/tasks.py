"""`covetpy tasks module:app`: the app's queues (waiting, running, delayed, dead letters) and
its registered tasks; `show ID`, `retry ID` and `drop ID` act on a dead letter."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import msgspec

from covetpy.cli.logs import configure_logging
from covetpy.exceptions import CovetError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", help="the app as module:attribute")
    parser.add_argument(
        "action", nargs="?", default="list", choices=("list", "show", "retry", "drop"),
        help="list (default): queues and dead letters; show/retry/drop ID: a dead letter",
    )  # fmt: skip
    parser.add_argument("id", nargs="?", help="the task id of a dead letter (show, retry, drop)")
    parser.add_argument("--queue", default=None, help="only this queue's dead letters")
    parser.add_argument("--limit", type=int, default=20, help="dead letters listed (default: 20)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: `covetpy run` builds this parser too and needs neither.
    import asyncio

    from covetpy.hosting import load_app

    configure_logging("warning")
    if args.action != "list" and not args.id:
        print(f"covetpy tasks: {args.action} needs the task id of a dead letter")
        return 2
    try:
        app: Any = load_app(args.app)
        tasks = app.tasks
    except (CovetError, AttributeError) as exc:
        print(f"covetpy tasks: {args.app}: {exc}")
        return 2
    try:
        return asyncio.run(_run(tasks, args))
    except (ConnectionError, OSError) as exc:
        print(f"covetpy tasks: cannot reach the broker {tasks.url}: {exc}")
        return 1


def _letter(d: Any) -> dict[str, Any]:
    from covetpy.tasks.message import decode

    out: dict[str, Any] = {"id": d.id, "reason": d.reason}
    try:
        msg = decode(d.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        out["undecodable"] = d.data[:200].hex()
        return out
    out.update(
        task=msg.task,
        queue=msg.queue,
        attempt=msg.attempt,
        enqueued=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(msg.enqueued)),
        requestid=msg.requestid,
    )
    try:
        out["args"] = msgspec.msgpack.decode(msg.args)
    except msgspec.DecodeError:
        out["args"] = None
    return out


async def _run(tasks: Any, args: argparse.Namespace) -> int:
    from covetpy.tasks.backends.base import Outgoing
    from covetpy.tasks.message import decode, encode

    broker = await tasks.connected()
    try:
        if args.action == "list":
            queues = sorted(set(tasks.queues()) | {s.queue for s in await broker.stats(None)})
            stats = await broker.stats(queues)
            dead = [_letter(d) for d in await broker.dead_letters(args.queue, args.limit)]
            registered = [
                {"task": t.name, "queue": t.options.queue, "retries": t.options.retries,
                 "timeout": t.options.timeout} for t in tasks.registry.values()
            ]  # fmt: skip
            periodic = [
                {"task": p.task.name, "schedule": getattr(p.schedule, "expression", None)
                 or f"every {p.schedule.seconds:g}s"} for p in tasks.periodics
            ]  # fmt: skip
            if args.json:
                print(json.dumps({
                    "broker": _redact(tasks.url),
                    "queues": [vars_of(s) for s in stats],
                    "tasks": registered, "periodic": periodic, "dead_letters": dead,
                }, indent=2))  # fmt: skip
                return 0
            print(f"broker  {_redact(tasks.url)}")
            print(f"{'queue':<24}{'waiting':>10}{'running':>10}{'delayed':>10}{'dead':>8}")
            for s in stats:
                print(f"{s.queue:<24}{s.ready:>10}{s.running:>10}{s.delayed:>10}{s.dead:>8}")
            if registered:
                print("\ntasks")
                for t in registered:
                    print(f"  {t['task']}  queue={t['queue']} retries={t['retries']}")
            if periodic:
                print("\nperiodic")
                for p in periodic:
                    print(f"  {p['task']}  {p['schedule']}")
            if dead:
                print("\ndead letters (covetpy tasks APP show|retry|drop ID)")
                for d in dead:
                    print(f"  {d['id']}  {d.get('task', '?')}  {d['reason']}")
            return 0
        letters = {d.id: d for d in await broker.dead_letters(None, 100000)}
        found = letters.get(args.id)
        if found is None:
            print(f"covetpy tasks: no dead letter {args.id}")
            return 1
        if args.action == "show":
            shown = _letter(found)
            print(json.dumps(shown, indent=2, default=str) if args.json else
                  "\n".join(f"{k:<10} {v}" for k, v in shown.items()))  # fmt: skip
            return 0
        if args.action == "drop":
            await broker.drop_dead(args.id)
            print(f"dropped {args.id}")
            return 0
        # retry: back to its queue as a first run, then out of the dead letters.
        msg = decode(found.data)
        fresh = msgspec.structs.replace(msg, attempt=1, due=0.0, reason=None, enqueued=time.time())
        await broker.enqueue(Outgoing(msg.id, msg.queue, msg.priority, encode(fresh)))
        await broker.drop_dead(args.id)
        print(f"retrying {args.id} on queue {msg.queue}")
        return 0
    finally:
        await tasks.close()


def vars_of(s: Any) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ("queue", "ready", "running", "delayed", "dead")}


def _redact(url: str) -> str:
    from covetpy.tasks.manager import _redacted

    return _redacted(url)
