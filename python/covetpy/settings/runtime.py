"""The settings of a running app: `App(settings=Config)` loads `Config` once and hands the same
instance to `app.settings`, `Depends(Config)` and parameters annotated `Config`.

Under `covetpy run` the supervisor loads it before any worker starts (so a bad value stops
start-up once, exit code 2, every problem listed), and each worker loads it again from the same
sources: the environment is inherited, and `--config`/`--set`/`--secrets-dir` travel as
`COVETPY_CONFIG_FILE`/`COVETPY_SET`/`COVETPY_SECRETS_DIR`. Without the CLI (TestClient, tests)
the first access loads it from the default sources.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from covetpy.exceptions import ConfigError
from covetpy.settings.errors import SettingsError
from covetpy.settings.loader import Entry
from covetpy.settings.model import Settings, gather_app
from covetpy.settings.sources import Sources

if TYPE_CHECKING:
    from covetpy.app import App

__all__ = ["AppSettings", "check_app"]


class AppSettings:
    """The settings class an app was given, and the loaded instance of each settings class
    its handlers ask for (loaded at most once each)."""

    def __init__(self, cls: type[Settings] | None) -> None:
        if cls is not None and not (isinstance(cls, type) and issubclass(cls, Settings)):
            raise TypeError(f"App(settings=...) takes a Settings subclass, not {cls!r}")
        self.cls = cls
        self._loaded: dict[type[Settings], Settings] = {}
        self._lock = threading.Lock()

    def get(self, cls: type[Settings] | None = None) -> Any:
        """The loaded instance of `cls` (default: the app's class); loads it on first use."""
        cls = cls or self.cls
        if cls is None:
            raise ConfigError(
                "the app has no settings: give the class with App(settings=...) "
                "(docs/configuration.md)"
            )
        instance = self._loaded.get(cls)
        if instance is None:
            with self._lock:
                instance = self._loaded.get(cls)
                if instance is None:
                    instance = self._loaded[cls] = cls.load()
        return instance

    def load(self, sources: Sources) -> list[Entry]:
        """Loads the app's class from `sources` now and keeps it; its entries. Without a
        class, only checks that the sources hold no app keys. Raises SettingsError."""
        if self.cls is None:
            outcome = gather_app(None, sources)
            problems = [*sources.problems, *outcome.problems]
            if problems:
                raise SettingsError(problems, "settings")
            return []
        instance, entries = self.cls.from_sources(sources)
        with self._lock:
            self._loaded[self.cls] = instance
        return entries

    def set(self, instance: Settings) -> None:
        """Uses `instance` as the loaded settings of its class (tests)."""
        with self._lock:
            self._loaded[type(instance)] = instance


def holder(app: App) -> AppSettings:
    """The app's settings state."""
    return app._settings


def check_app(app: App, sources: Sources | None = None) -> list[Entry]:
    """Loads the app's settings (from the default sources unless given) before it serves."""
    if sources is None:
        cls = holder(app).cls
        secrets = cls.__settings_secrets_dir__ if cls is not None else None
        sources = Sources.collect(default_secrets_dir=secrets)
    return holder(app).load(sources)
