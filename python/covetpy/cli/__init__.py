"""The `covetpy` command: `run` serves an app, `routes` prints its route table, `bench`
load-tests a URL."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from covetpy import __version__
from covetpy.cli.bench import add_arguments as add_bench_arguments
from covetpy.cli.logs import configure_logging
from covetpy.config import ServerConfig

__all__ = ["main"]


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per ServerConfig field, so the CLI and the config cannot drift apart."""
    defaults = ServerConfig()
    for f in dataclasses.fields(ServerConfig):
        if f.name in ("fd", "metrics_dir"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = f"{f.metadata['help']} (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", default=default, help=help_text)
        elif default is None:
            # `str | None` fields (uds, ssl_*): a path when given.
            parser.add_argument(flag, type=str, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covetpy", description="CovetPy: Rust-speed HTTP for Python"
    )
    parser.add_argument("--version", action="version", version=f"covetpy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve an app")
    run.add_argument("app", help="the app as module:attribute, e.g. examples.hello:app")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    _add_config_options(run)

    routes = sub.add_parser("routes", help="print the route table of an app")
    routes.add_argument("app", help="the app as module:attribute")
    routes.add_argument(
        "--middleware",
        action="store_true",
        help="also print the middleware chain around each route, outermost first",
    )

    plugins = sub.add_parser("plugins", help="list an app's plugins, in order, and what each added")
    plugins.add_argument("app", help="the app as module:attribute")

    exec_ = sub.add_parser("exec", help="run a command an app or its plugins registered")
    exec_.add_argument("app", help="the app as module:attribute")
    exec_.add_argument("name", nargs="?", help="the command (omit to list them)")
    exec_.add_argument("args", nargs=argparse.REMAINDER, help="passed to the command")

    bench = sub.add_parser("bench", help="load-test a URL (HTTP/1.1 load generator in Rust)")
    add_bench_arguments(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `covetpy` command."""
    try:
        parser = _parser()
    except ValueError as exc:  # a default from the environment is invalid ($COVETPY_IO)
        sys.exit(f"covetpy: {exc}")
    args = parser.parse_args(argv)
    if args.command == "run":
        from covetpy.cli.run import run

        sys.exit(run(args))
    if args.command == "routes":
        from covetpy.cli.routes import print_routes

        configure_logging("warning")
        sys.exit(print_routes(args.app, args.middleware))
    if args.command == "plugins":
        from covetpy.cli.plugins import print_plugins

        configure_logging("warning")
        sys.exit(print_plugins(args.app))
    if args.command == "exec":
        from covetpy.cli.plugins import run_command

        configure_logging("info")
        sys.exit(run_command(args.app, args.name, args.args))
    if args.command == "bench":
        from covetpy.cli.bench import run as run_bench

        sys.exit(run_bench(args))
