"""Typed configuration: an app's `Settings` and the server's own options, read from one
documented order of sources (docs/configuration.md).

```python
from covetpy import App, Settings, Secret

class Config(Settings, prefix="SHOP_"):
    database_url: Secret[str]
    page_size: int = 20

app = App(settings=Config)
```
"""

from __future__ import annotations

from covetpy.settings.errors import Problem, SettingsError
from covetpy.settings.loader import Entry
from covetpy.settings.model import Settings
from covetpy.settings.secret import Secret
from covetpy.settings.sources import AUTO
from covetpy.settings.units import ByteSize, Duration, parse_duration, parse_size

__all__ = [
    "AUTO",
    "ByteSize",
    "Duration",
    "Entry",
    "Problem",
    "Secret",
    "Settings",
    "SettingsError",
    "parse_duration",
    "parse_size",
]
