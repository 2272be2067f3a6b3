"""`Secret[T]`: a value that never shows itself.

Its repr and str are `Secret('**********')` and `**********`, so neither a log line, a
traceback's message, `covetpy config` nor a repr of the settings that hold it can print the
value; code that needs it asks by name, `get_secret_value()`, which is easy to grep for.
`enc_hook` encodes it as `"**********"` for a `msgspec` encoder that is given the hook (the app's
JSON encoder refuses unknown types, so a secret in a response fails the request rather than
leaking); `dec_hook` decodes one from its plain value.
"""

from __future__ import annotations

from typing import Any, Generic, NoReturn, TypeVar, get_args, get_origin

import msgspec

__all__ = ["REDACTED", "Secret", "dec_hook", "enc_hook", "is_secret_type"]

T = TypeVar("T")

REDACTED = "**********"


class Secret(Generic[T]):
    """A value (a password, a token, a URL with credentials) kept out of every output."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def get_secret_value(self) -> T:
        """The value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # hmac loads libcrypto (3.4 MB); the supervisor reads settings but compares no secret.
        import hmac

        a, b = self._value, other._value
        if isinstance(a, str) and isinstance(b, str):
            # Compared in constant time: equality of secrets is how tokens get checked.
            return hmac.compare_digest(a.encode(), b.encode())
        if isinstance(a, bytes) and isinstance(b, bytes):
            return hmac.compare_digest(a, b)
        return bool(a == b)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        # A pickle is an output too (caches, queues, multiprocessing): refuse rather than leak.
        raise TypeError("a Secret cannot be pickled; pass get_secret_value() explicitly")


def is_secret_type(tp: Any) -> bool:
    """Whether `tp` is `Secret` or `Secret[T]`."""
    return tp is Secret or get_origin(tp) is Secret


def enc_hook(obj: Any) -> Any:
    """A msgspec `enc_hook`: a Secret encodes as `"**********"`."""
    if isinstance(obj, Secret):
        return REDACTED
    raise NotImplementedError(f"Encoding objects of type {type(obj).__name__} is unsupported")


def dec_hook(tp: Any, obj: Any) -> Any:
    """A msgspec `dec_hook`: `Secret[T]` from a plain value converted to T."""
    if is_secret_type(tp):
        args = get_args(tp)
        return Secret(msgspec.convert(obj, args[0], strict=False) if args else obj)
    raise NotImplementedError(f"{tp!r} is not supported")
