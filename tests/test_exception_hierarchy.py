"""Every exception class the package defines derives from `CovetError`, so `except CovetError`
catches whatever CovetPy raises, except `HTTPException` (and `RequestValidationError`): those
are answers, rendered as responses, not errors. Were they CovetErrors, an `except CovetError`
around a call (say, to turn a broker error into a 503) would also swallow a 404 the handler
meant to send.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import covetpy
from covetpy import _core
from covetpy.exceptions import CovetError, HTTPException

PACKAGE = Path(covetpy.__file__).parent


def import_everything() -> None:
    """Imports every module of the package (private ones too; the extras are installed)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("covetpy", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue  # runs the CLI
        if parts[-1] == "__init__":
            parts = parts[:-1]
        importlib.import_module(".".join(parts))


def package_exceptions() -> list[type[BaseException]]:
    """The exception classes defined by the package (in Python or in `covetpy._core`)."""
    found: list[type[BaseException]] = []
    todo = [BaseException]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = cls.__module__
        ours = module == "covetpy" or module.startswith("covetpy.")
        ours = ours or getattr(_core, cls.__name__, None) is cls
        if ours and cls not in found:
            found.append(cls)
    return found


def test_every_package_exception_is_a_covet_error() -> None:
    import_everything()
    found = package_exceptions()
    names = {cls.__name__ for cls in found}
    assert {"CovetError", "ConfigError", "TopicError", "NonRetryable", "InProgress"} <= names
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in found
        if not issubclass(cls, CovetError | HTTPException)
    ]
    assert strays == []


def test_http_exceptions_are_answers_not_covet_errors() -> None:
    assert not issubclass(HTTPException, CovetError)
    assert not issubclass(covetpy.RequestValidationError, CovetError)


def test_the_events_errors_keep_their_standard_bases() -> None:
    from covetpy.events.topics import TopicError

    # `except ValueError` written before TopicError was a CovetError still catches it.
    assert issubclass(TopicError, CovetError) and issubclass(TopicError, ValueError)


def test_start_up_configuration_mistakes_are_config_errors() -> None:
    from covetpy import App
    from covetpy.events.backends import backend_for
    from covetpy.exceptions import ConfigError

    with pytest.raises(ConfigError, match="no event backend"):
        backend_for("kafka://127.0.0.1:9092")
    app = App()
    app.readiness_check(lambda: True, name="db")
    with pytest.raises(ConfigError, match="already registered"):
        app.readiness_check(lambda: True, name="db")
    app.command("seed")(lambda args: 0)
    with pytest.raises(ConfigError, match="already registered"):
        app.command("seed")(lambda args: 0)
