"""Running plugins: set-up in dependency order, hooks, and what each added to the app."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from covetpy.plugins.base import HOOKS, PluginError, plugin_name
from covetpy.plugins.discover import discovered
from covetpy.plugins.order import in_dependency_order

if TYPE_CHECKING:
    from covetpy.app import App
    from covetpy.config import ServerConfig


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
    """The plugins of one app, after its built-in ones (`builtins.py`)."""

    def __init__(self, explicit: list[Any], discover: bool, builtin: Sequence[Any] = ()) -> None:
        self.explicit = explicit
        self.discover = discover
        self.builtin = list(builtin)
        self.ordered: list[Any] = []
        """The app's plugins (registered and discovered) in dependency order."""
        self.added: dict[str, Added] = {}
        self._set_up = False

    def set_up(self, app: App) -> None:
        """Orders the plugins and runs each `on_app_init(app)` once: the app's plugins', then
        the built-in ones'."""
        if self._set_up:
            return
        self._set_up = True
        plugins = list(self.explicit)
        if self.discover:
            names = {plugin_name(p) for p in plugins}
            plugins += [p for p in discovered() if plugin_name(p) not in names]
        self.ordered = in_dependency_order(plugins)
        for p in [*self.ordered, *self.builtin]:
            name = plugin_name(p)
            before = app.registrations()
            hook = getattr(p, "on_app_init", None)
            if hook is not None:
                try:
                    result = hook(app)
                except Exception as exc:
                    raise PluginError(f"plugin {name!r}: on_app_init failed: {exc}") from exc
                if inspect.isawaitable(result):
                    raise PluginError(f"plugin {name!r}: on_app_init must not be async")
            self.added[name] = _diff(before, app.registrations())

    def serve(self, app: App, config: ServerConfig) -> None:
        """Runs each `on_serve(app, config)`, after the set-up, in the order of `on_app_init`
        (the app's plugins', then the built-in ones'): once per run of the app, in each
        worker, before the route table is built."""
        self.set_up(app)
        for p in [*self.ordered, *self.builtin]:
            hook = getattr(p, "on_serve", None)
            if hook is None:
                continue
            if any(p is b for b in self.builtin):
                hook(app, config)  # the feature's own error (MissingExtra, ...), as it is
                continue
            name = plugin_name(p)
            try:
                result = hook(app, config)
            except Exception as exc:
                raise PluginError(f"plugin {name!r}: on_serve failed: {exc}") from exc
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never to run: no "never awaited" warning
                raise PluginError(f"plugin {name!r}: on_serve must not be async")

    async def shutdown(self) -> list[Exception]:
        """Runs every `on_shutdown` in reverse order, each even if one before it failed;
        returns what they raised."""
        errors: list[Exception] = []
        for p in [*self.builtin, *self.ordered][::-1]:
            try:
                await self._run([p], "on_shutdown", ())
            except Exception as exc:
                errors.append(exc)
        return errors

    async def run(self, hook: str, reverse: bool = False) -> None:
        """Runs `hook` of every plugin (reverse order for the ones that tear down); a plugin
        whose hook raises stops the others with its name in the message (a built-in one's
        error is raised as it is)."""
        assert hook in HOOKS
        everyone = [*self.builtin, *self.ordered]
        await self._run(everyone[::-1] if reverse else everyone, hook, ())

    async def drain(self, grace: float) -> None:
        """Runs `on_drain` of every plugin in reverse order, except that those with
        `drain_alone` run alongside that chain; a hook that takes an argument gets `grace`,
        the seconds the drain has."""
        everyone = [*self.builtin, *self.ordered][::-1]
        alone = [p for p in everyone if getattr(p, "drain_alone", False)]
        chain = [p for p in everyone if not getattr(p, "drain_alone", False)]
        work = [self._run(chain, "on_drain", (grace,))]
        work += [self._run([p], "on_drain", (grace,)) for p in alone]
        results = await asyncio.gather(*work, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _run(self, plugins: list[Any], hook: str, args: tuple[Any, ...]) -> None:
        for p in plugins:
            fn = getattr(p, hook, None)
            if fn is None:
                continue
            try:
                result = fn(*args) if args and _takes_arguments(fn) else fn()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if any(p is b for b in self.builtin):
                    raise  # the feature's own error (BusInUse, ...), as the user knows it
                raise PluginError(f"plugin {plugin_name(p)!r}: {hook} failed: {exc}") from exc


def _takes_arguments(fn: Any) -> bool:
    """Whether `fn` takes a positional argument (`on_drain(grace)`)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds or p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


@dataclass(frozen=True)
class Registrations:
    """What an app has registered (`App.registrations()`): a plugin's `Added` is the
    difference between two of these."""

    routes: tuple[str, ...]
    """As `"GET|HEAD /path"`."""
    middleware: tuple[Any, ...]
    dependencies: int
    exception_handlers: tuple[type[BaseException], ...]
    commands: tuple[str, ...]
    startup_hooks: int
    shutdown_hooks: int
    subscriptions: tuple[str, ...]
    """The event subscriptions (none until the app's bus is made)."""


def _diff(before: Registrations, after: Registrations) -> Added:
    from covetpy.middleware import name_of

    def new(old: tuple[Any, ...], now: tuple[Any, ...]) -> list[Any]:
        return [x for x in now if x not in old]

    return Added(
        routes=new(before.routes, after.routes),
        middleware=[name_of(m) for m in new(before.middleware, after.middleware)],
        dependencies=after.dependencies - before.dependencies,
        exception_handlers=[
            getattr(e, "__name__", str(e))
            for e in new(before.exception_handlers, after.exception_handlers)
        ],
        commands=new(before.commands, after.commands),
        startup_hooks=after.startup_hooks - before.startup_hooks,
        shutdown_hooks=after.shutdown_hooks - before.shutdown_hooks,
        subscriptions=new(before.subscriptions, after.subscriptions),
    )
