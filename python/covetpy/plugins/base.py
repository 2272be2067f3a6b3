"""What a plugin is: a class (or instance) with a `name`, optional `requires`, and hooks.

```python
class Metrics:
    name = "metrics"
    requires = ("tracing",)

    def on_app_init(self, app): app.get("/metrics")(self.render)
    def on_serve(self, app, config): ...
    async def on_startup(self): ...
    def on_ready(self): ...
    async def on_drain(self): ...
    def on_shutdown(self): ...
```

Every hook is optional; `on_app_init(app)` (sync) runs once, before the routes are compiled,
and may add routes, middleware, dependencies, exception handlers, event handlers and commands.
`on_serve(app, config)` (sync) runs in each worker once per run of the app, with the run's
`ServerConfig`, before the route table is built; it may add routes and middleware
(`add_middleware(..., outermost=True)` wraps the app's). The others may be sync or async and
run in each worker: `on_startup`/`on_ready`/`on_drain`/`on_shutdown`
before it accepts connections, once it serves, when it starts draining, after it drained.
`on_drain(grace)` may take the seconds the drain has. The `on_drain` hooks run one after the
other, in reverse order; a plugin with `drain_alone = True` drains alongside them instead.

CovetPy's own features (`app.events`, `app.grpc`, tracing and metrics, `App(mesh=True)` and the
sidecar wait) are plugins too (`builtins.py`).
"""

from __future__ import annotations

from typing import Any

from covetpy.exceptions import CovetError

HOOKS = ("on_startup", "on_ready", "on_drain", "on_shutdown")


class PluginError(CovetError):
    """A plugin that cannot be used: no name, a missing requirement, a cycle, or a hook that
    raised. The message names the plugins involved."""


def plugin_name(plugin: Any) -> str:
    """The plugin's `name`, checked."""
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin!r} has no name (a non-empty `name` string attribute)")
    return name


def plugin_requires(plugin: Any) -> tuple[str, ...]:
    """The names the plugin needs registered (and set up) before it."""
    requires = getattr(plugin, "requires", ())
    if isinstance(requires, str):
        requires = (requires,)
    return tuple(requires)
