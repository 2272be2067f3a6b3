"""`covetpy run module:app`.

This process becomes the supervisor, which lives as long as the service: it reads the options
and imports nothing of the app (adrs/0020). The app is loaded and checked in each worker, which
reports a failure for the supervisor to print once (covetpy.server.worker.check).
"""

from __future__ import annotations

import argparse
import sys

from covetpy.cli.logs import configure_logging
from covetpy.exceptions import ConfigError
from covetpy.server.supervisor import Supervisor
from covetpy.settings.server import options_from


def run(args: argparse.Namespace) -> int:
    """Reads the options, then supervises the workers; returns the exit code."""
    try:
        # Flags on top of [server] in the TOML file, .env, COVETPY_* and --set (settings/).
        options = options_from(args)
    except (ValueError, ConfigError) as exc:
        print(f"covetpy: {exc}", file=sys.stderr)
        return 2
    config = options.config
    configure_logging(config.log_level, config.log_format)
    return Supervisor(args.app, config, options.workers).run()
