"""The `covetpy` command: `run` serves an app, `config` prints its configuration, `routes` its
route table, `bench` load-tests a URL."""

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
    """One option per ServerConfig field, so the CLI and the config cannot drift apart. Each
    defaults to None: an option not given comes from the configuration sources
    (covetpy.settings.server)."""
    for f in dataclasses.fields(ServerConfig):
        if f.name in ("fd", "metrics_dir"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata['help']} (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif default is None:
            # `str | None` fields (uds, ssl_*): a path when given.
            parser.add_argument(flag, type=str, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=None, help=help_text)


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    """Where the configuration comes from besides the defaults and the environment."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the TOML configuration file (default: $COVETPY_CONFIG_FILE, else covetpy.toml "
        "in the working directory if there is one)",
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="set one key, above every other source (page_size=50, db.host=x, "
        "server.port=9000); repeatable",
    )
    parser.add_argument(
        "--secrets-dir",
        metavar="DIR",
        help="directory of secret files, one per key (default: the settings class's "
        "secrets_dir, /run/secrets, if it exists)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covetpy", description="CovetPy: Rust-speed HTTP for Python"
    )
    parser.add_argument("--version", action="version", version=f"covetpy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve an app")
    run.add_argument("app", help="the app as module:attribute, e.g. examples.hello:app")
    run.add_argument("--workers", type=int, default=None, help="worker processes (default: 1)")
    _add_config_options(run)
    _add_source_options(run)

    config = sub.add_parser(
        "config", help="print the effective configuration and where each value came from"
    )
    config.add_argument("app", help="the app as module:attribute")
    config.add_argument("--json", action="store_true", help="print JSON, for machines")
    _add_source_options(config)

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

    from covetpy.cli import tasks as tasks_cli
    from covetpy.cli import worker as worker_cli

    worker_cli.add_arguments(
        sub.add_parser("worker", help="consume an app's task queues (no HTTP)")
    )
    tasks_cli.add_arguments(
        sub.add_parser("tasks", help="an app's task queues and dead letters; retry or drop one")
    )

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
    if args.command == "config":
        from covetpy.cli.config import print_config

        configure_logging("warning")
        sys.exit(print_config(args))
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
    if args.command in ("worker", "tasks"):
        from covetpy.cli import tasks as tasks_cli
        from covetpy.cli import worker as worker_cli

        sys.exit((worker_cli if args.command == "worker" else tasks_cli).run(args))
    if args.command == "bench":
        from covetpy.cli.bench import run as run_bench

        sys.exit(run_bench(args))
