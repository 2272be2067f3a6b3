"""Logging set-up shared by the supervisor and the workers."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Plain lines on stderr with the process id, at `level`."""
    logging.basicConfig(
        level=level.upper(),
        format="%(levelname)s covetpy[%(process)d]: %(message)s",
    )
