"""`covetpy config module:app`: every effective key (the server's options, then the app's
settings), its value and where it came from; secrets as `**********`. `--json` for machines.

It reads exactly what `covetpy run` would (the same sources, `--config`, `--set`,
`--secrets-dir`), so it is also a dry run of start-up's configuration check: the exit code is
2 and every problem is printed when a value is bad.
"""

from __future__ import annotations

import argparse
import json
import sys

from covetpy.exceptions import CovetError
from covetpy.hosting import load_app
from covetpy.settings import Entry, SettingsError
from covetpy.settings.runtime import check_app
from covetpy.settings.server import options_from

__all__ = ["format_entries", "print_config"]


def print_config(args: argparse.Namespace) -> int:
    """Prints the configuration of `args.app`; returns the exit code."""
    problems: list[str] = []
    entries: list[Entry] = []
    interface, threads = "auto", 16
    try:
        options = options_from(args)
        entries.extend(options.entries)
        interface, threads = options.config.interface, options.config.wsgi_threads
    except SettingsError as exc:
        problems.extend(str(p) for p in exc.problems)
    try:
        app = load_app(args.app, interface, threads)
    except CovetError as exc:
        print(f"covetpy: {args.app}: {exc}", file=sys.stderr)
        return 2
    try:
        entries.extend(check_app(app))
    except SettingsError as exc:
        problems.extend(str(p) for p in exc.problems)
    if problems:
        n = len(problems)
        lines = "".join(f"\n  {p}" for p in problems)
        print(f"covetpy: configuration: {n} problem{'s' if n != 1 else ''}{lines}", file=sys.stderr)
        return 2
    if args.json:
        data = [{"key": e.key, "value": e.value, "source": e.source} for e in entries]
        print(json.dumps(data, indent=2))
    else:
        print(format_entries(entries))
    return 0


def format_entries(entries: list[Entry]) -> str:
    """Three aligned columns: key, value (as JSON), source."""
    rows = [(e.key, json.dumps(e.value), e.source) for e in entries]
    key_w = max((len(r[0]) for r in rows), default=3)
    value_w = min(max((len(r[1]) for r in rows), default=5), 40)
    lines = [f"{'key':<{key_w}}  {'value':<{value_w}}  source"]
    lines += [f"{k:<{key_w}}  {v:<{value_w}}  {s}" for k, v, s in rows]
    return "\n".join(lines)
