"""Loading `module:attribute` app references."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from covetpy.exceptions import ConfigError


def import_from_string(ref: str) -> Any:
    """Imports `package.module:attr` (attr may be dotted). The current directory is importable,
    as it is for `python -m`."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"expected 'module:attribute', got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import module {module_name!r}: {exc}") from exc
        raise
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj
