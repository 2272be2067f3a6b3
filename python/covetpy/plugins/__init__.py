"""Plugins: classes with a `name`, optional `requires`, and hooks (`base.py`), registered with
`App(plugins=[...])` or discovered from the `covetpy.plugins` entry points
(`App(discover_plugins=True)`), set up in dependency order (`order.py`, `manager.py`)."""

from covetpy.plugins.base import PluginError
from covetpy.plugins.discover import GROUP
from covetpy.plugins.manager import Added, Plugins, Registrations

__all__ = ["GROUP", "Added", "PluginError", "Plugins", "Registrations"]
