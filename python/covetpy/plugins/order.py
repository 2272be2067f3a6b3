"""Putting plugins in dependency order (a stable topological sort)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from covetpy.plugins.base import PluginError, plugin_name, plugin_requires


def in_dependency_order(plugins: Sequence[Any]) -> list[Any]:
    """`plugins` ordered so each comes after what it requires; otherwise in registration order.

    Raises PluginError naming the plugins for a duplicate name, a missing requirement or a
    cycle."""
    by_name: dict[str, Any] = {}
    for p in plugins:
        name = plugin_name(p)
        if name in by_name:
            raise PluginError(f"two plugins are named {name!r}")
        by_name[name] = p
    for name, p in by_name.items():
        missing = [r for r in plugin_requires(p) if r not in by_name]
        if missing:
            raise PluginError(
                f"plugin {name!r} requires {', '.join(repr(m) for m in missing)}, "
                "which is not registered"
            )
    done: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*path[path.index(name) :], name]
            raise PluginError(f"plugins require each other in a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for r in plugin_requires(by_name[name]):
            visit(r, [*path, name])
        state[name] = "done"
        done.append(name)

    for name in by_name:
        visit(name, [])
    return [by_name[n] for n in done]
