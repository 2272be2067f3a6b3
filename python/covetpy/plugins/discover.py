"""Plugins installed as distributions: the `covetpy.plugins` entry-point group.

A distribution declares `[project.entry-points."covetpy.plugins"] name = "pkg.module:Plugin"`;
the object is a plugin class (instantiated with no arguments) or a plugin instance.
"""

from __future__ import annotations

from typing import Any

from covetpy.plugins.base import PluginError

GROUP = "covetpy.plugins"


def discovered() -> list[Any]:
    """The plugins installed in this environment, in entry-point name order."""
    from importlib.metadata import entry_points  # csv, zipfile, email: only when asked

    out = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            obj = ep.load()
            out.append(obj() if isinstance(obj, type) else obj)
        except Exception as exc:
            raise PluginError(f"plugin entry point {ep.name!r} ({ep.value}): {exc}") from exc
    return out
