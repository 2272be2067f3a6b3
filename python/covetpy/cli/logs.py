"""Logging set-up shared by the supervisor and the workers."""

from __future__ import annotations

import logging


def configure_logging(level: str, fmt: str = "text") -> None:
    """Lines on stderr at `level`: plain with the process id, or with `fmt="json"` one JSON
    object per line carrying the trace and request ids (`covetpy.observability.logs`)."""
    if fmt == "json":
        from covetpy.observability.logs import configure

        configure("json", level.upper())
        return
    logging.basicConfig(
        level=level.upper(),
        format="%(levelname)s covetpy[%(process)d]: %(message)s",
    )
