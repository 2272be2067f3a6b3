"""`covetpy run module:app`."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from covetpy._core import Server
from covetpy.cli.logs import configure_logging
from covetpy.config import ServerConfig
from covetpy.exceptions import ConfigError, CovetError
from covetpy.hosting import load_app
from covetpy.server.supervisor import Supervisor

logger = logging.getLogger("covetpy")


def run(args: argparse.Namespace) -> int:
    """Checks the app and the options, then supervises the workers; returns the exit code."""
    names = {f.name for f in dataclasses.fields(ServerConfig)} - {"fd", "metrics_dir"}
    try:
        config = ServerConfig(**{n: getattr(args, n) for n in names})
    except (ValueError, ConfigError) as exc:
        print(f"covetpy: {exc}")
        return 2
    configure_logging(config.log_level, config.log_format)
    if args.workers < 1:
        print("covetpy: --workers must be at least 1")
        return 2
    # Import once here so a broken app fails fast with one clear message, not N worker crashes.
    try:
        app = load_app(args.app, config.interface, config.wsgi_threads)
    except CovetError as exc:
        logger.error("%s: %s", args.app, exc)
        return 2
    try:
        # Builds the Rust route table (without binding) so conflicts are reported once, here.
        Server(config, app.route_table(), app.runtime())
    except CovetError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return 2
    return Supervisor(args.app, config, args.workers).run()
