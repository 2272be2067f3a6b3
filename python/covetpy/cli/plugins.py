"""`covetpy plugins module:app` and `covetpy exec module:app NAME ARGS...`."""

from __future__ import annotations

from covetpy._importer import import_from_string
from covetpy.app import App
from covetpy.exceptions import CovetError
from covetpy.plugins.base import plugin_name, plugin_requires


def _load(app_ref: str) -> App | None:
    try:
        app = import_from_string(app_ref)
    except CovetError as exc:
        print(f"covetpy: {exc}")
        return None
    if not isinstance(app, App):
        print(f"covetpy: {app_ref} is not a covetpy.App")
        return None
    return app


def print_plugins(app_ref: str) -> int:
    """Prints the plugins in the order they are set up, what each requires and added."""
    app = _load(app_ref)
    if app is None:
        return 2
    try:
        app.plugins.set_up(app)
    except CovetError as exc:
        print(f"covetpy: {exc}")
        return 1
    if not app.plugins.ordered:
        print("no plugins")
        return 0
    for i, p in enumerate(app.plugins.ordered, 1):
        name = plugin_name(p)
        requires = plugin_requires(p)
        origin = "registered" if p in app.plugins.explicit else "discovered"
        after = f", requires {', '.join(requires)}" if requires else ""
        print(f"{i}. {name} ({type(p).__module__}.{type(p).__qualname__}; {origin}{after})")
        lines = app.plugins.added[name].lines()
        for line in lines or ["(added nothing to the app)"]:
            print(f"     {line}")
    return 0


def run_command(app_ref: str, name: str | None, args: list[str]) -> int:
    """Runs the app's command `name` with `args`; lists the commands without a name."""
    app = _load(app_ref)
    if app is None:
        return 2
    try:
        app.plugins.set_up(app)
    except CovetError as exc:
        print(f"covetpy: {exc}")
        return 1
    if name is None or name not in app.commands:
        if name is not None:
            print(f"covetpy: no command {name!r}")
        print("commands: " + (", ".join(sorted(app.commands)) or "(none)"))
        return 0 if name is None else 2
    result = app.commands[name](args)
    return result if isinstance(result, int) else 0
