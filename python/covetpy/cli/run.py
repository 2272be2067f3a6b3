"""`covetpy run module:app`."""

from __future__ import annotations

import argparse
import logging
import sys

from covetpy._core import Server
from covetpy.cli.logs import configure_logging
from covetpy.exceptions import ConfigError, CovetError
from covetpy.hosting import load_app
from covetpy.server.supervisor import Supervisor
from covetpy.settings import SettingsError
from covetpy.settings.runtime import check_app
from covetpy.settings.server import options_from

logger = logging.getLogger("covetpy")


def run(args: argparse.Namespace) -> int:
    """Checks the app and the options, then supervises the workers; returns the exit code."""
    try:
        # Flags on top of [server] in the TOML file, .env, COVETPY_* and --set (settings/).
        options = options_from(args)
    except (ValueError, ConfigError) as exc:
        print(f"covetpy: {exc}", file=sys.stderr)
        return 2
    config = options.config
    configure_logging(config.log_level, config.log_format)
    # Import once here so a broken app fails fast with one clear message, not N worker crashes.
    try:
        app = load_app(args.app, config.interface, config.wsgi_threads)
    except CovetError as exc:
        logger.error("%s: %s", args.app, exc)
        return 2
    try:
        # The app's settings, validated before any worker starts (each worker loads them again).
        check_app(app)
    except SettingsError as exc:
        print(f"covetpy: {exc}", file=sys.stderr)
        return 2
    try:
        # Builds the Rust route table (without binding) so conflicts are reported once, here.
        Server(config, app.route_table(), app.runtime())
    except CovetError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return 2
    return Supervisor(args.app, config, options.workers).run()
