"""The exceptions of CovetPy.

- `CovetError`: base of the errors the framework raises itself.
  - `RouteError`: a route table that cannot be built (bad path, conflicting routes).
  - `ConfigError`: a server configuration that cannot be used (bad value, address in use).
  - `MissingExtra` (also an `ImportError`): a feature was turned on without the optional
    dependencies it needs (`pip install 'covetpy[extra]'`).
- `HTTPException`: raised by handlers to answer with an error status; rendered as
  RFC 9457 `application/problem+json`.
  - `RequestValidationError`: the request's parameters or body did not validate (422, with
    an `errors` list of `{location, reason}`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from covetpy._core import ConfigError, CovetError, RouteError

__all__ = [
    "ConfigError",
    "CovetError",
    "HTTPException",
    "MissingExtra",
    "RequestValidationError",
    "RouteError",
]


class MissingExtra(CovetError, ImportError):
    """`feature` was turned on, but the extra that installs its dependencies is missing.

    The one place the message is written, so every feature says it the same way, in one line.
    """

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the {extra} extra: pip install 'covetpy[{extra}]'")
        self.feature = feature
        self.extra = extra


def require(feature: str, extra: str, *modules: str) -> None:
    """Imports `modules` (what `feature` needs), or raises `MissingExtra` naming `extra`."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtra(feature, extra) from exc


# RFC 9110 renamed these; Python's HTTPStatus (3.11) still has the RFC 7231 phrases.
_TITLES = {413: "Content Too Large", 416: "Range Not Satisfiable", 422: "Unprocessable Content"}


class HTTPException(Exception):
    """Answer the current request with `status_code` and a problem document."""

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"HTTPException needs a 4xx or 5xx status, got {status_code}")
        title = _TITLES.get(status_code)
        if title is None:
            try:
                title = HTTPStatus(status_code).phrase
            except ValueError:
                title = "Error"
        self.status_code = status_code
        self.detail = detail if detail is not None else title
        self.title = title
        self.headers = dict(headers) if headers else {}
        super().__init__(status_code, self.detail)

    def __repr__(self) -> str:
        return f"HTTPException({self.status_code}, {self.detail!r})"


class RequestValidationError(HTTPException):
    """Bad parameters or body: 422 with every issue found (`errors`)."""

    def __init__(self, errors: Sequence[Any]) -> None:
        n = len(errors)
        super().__init__(422, f"{n} validation error{'s' if n != 1 else ''}")
        self.errors = list(errors)
