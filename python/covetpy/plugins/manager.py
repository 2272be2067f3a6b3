"""Running plugins: set-up in dependency order, hooks, and what each added to the app."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from covetpy.plugins.base import HOOKS, PluginError, plugin_name
from covetpy.plugins.discover import discovered
from covetpy.plugins.order import in_dependency_order

if TYPE_CHECKING:
    from covetpy.app import App


@dataclass
class Added:
    """What one plugin's `on_app_init` added to the app."""

    routes: list[str] = field(default_factory=list)
    middleware: list[str] = field(default_factory=list)
    dependencies: int = 0
    exception_handlers: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    startup_hooks: int = 0
    shutdown_hooks: int = 0
    subscriptions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"route {r}" for r in self.routes]
        out += [f"middleware {m}" for m in self.middleware]
        out += [f"command {c}" for c in self.commands]
        out += [f"exception handler for {e}" for e in self.exception_handlers]
        out += [f"subscription {s}" for s in self.subscriptions]
        if self.dependencies:
            out.append(f"{self.dependencies} app-wide dependencies")
        if self.startup_hooks or self.shutdown_hooks:
            out.append(f"{self.startup_hooks} startup / {self.shutdown_hooks} shutdown hooks")
        return out


class Plugins:
    """The plugins of one app."""

    def __init__(self, explicit: list[Any], discover: bool) -> None:
        self.explicit = explicit
        self.discover = discover
        self.ordered: list[Any] = []
        self.added: dict[str, Added] = {}
        self._set_up = False

    def set_up(self, app: App) -> None:
        """Orders the plugins and runs each `on_app_init(app)` once."""
        if self._set_up:
            return
        self._set_up = True
        plugins = list(self.explicit)
        if self.discover:
            names = {plugin_name(p) for p in plugins}
            plugins += [p for p in discovered() if plugin_name(p) not in names]
        self.ordered = in_dependency_order(plugins)
        for p in self.ordered:
            name = plugin_name(p)
            before = _snapshot(app)
            hook = getattr(p, "on_app_init", None)
            if hook is not None:
                try:
                    result = hook(app)
                except Exception as exc:
                    raise PluginError(f"plugin {name!r}: on_app_init failed: {exc}") from exc
                if inspect.isawaitable(result):
                    raise PluginError(f"plugin {name!r}: on_app_init must not be async")
            self.added[name] = _diff(before, _snapshot(app))

    async def run(self, hook: str, reverse: bool = False) -> None:
        """Runs `hook` of every plugin (reverse order for the ones that tear down); a plugin
        whose hook raises stops the others with its name in the message."""
        assert hook in HOOKS
        for p in reversed(self.ordered) if reverse else self.ordered:
            fn = getattr(p, hook, None)
            if fn is None:
                continue
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                raise PluginError(f"plugin {plugin_name(p)!r}: {hook} failed: {exc}") from exc


def _snapshot(app: App) -> dict[str, Any]:
    bus = getattr(app, "events", None)
    return {
        "routes": [f"{'|'.join(d.methods)} {d.path}" for d in app.declarations],
        "middleware": list(app._middleware),
        "dependencies": len(app.dependencies),
        "exception_handlers": list(app._exception_handlers),
        "commands": list(app.commands),
        "startup": len(app._startup),
        "shutdown": len(app._shutdown),
        "subscriptions": [str(s) for s in getattr(bus, "subscriptions", [])],
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> Added:
    from covetpy.middleware import name_of

    def new(key: str) -> list[Any]:
        return [x for x in after[key] if x not in before[key]]

    return Added(
        routes=new("routes"),
        middleware=[name_of(m) for m in new("middleware")],
        dependencies=after["dependencies"] - before["dependencies"],
        exception_handlers=[getattr(e, "__name__", str(e)) for e in new("exception_handlers")],
        commands=new("commands"),
        startup_hooks=after["startup"] - before["startup"],
        shutdown_hooks=after["shutdown"] - before["shutdown"],
        subscriptions=new("subscriptions"),
    )
