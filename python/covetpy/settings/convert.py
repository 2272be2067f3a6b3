"""Typing one value: a string from the environment read leniently ("20" -> 20, "a,b" ->
["a", "b"], JSON for lists and tables), a TOML value strictly (`port = "80"` is an error);
durations and sizes with units; `Secret[T]` as T, then wrapped.

A failure becomes a reason in plain words (`expected int, got "abc"`) that never contains a
secret's value.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from covetpy.exceptions import CovetError
from covetpy.settings.secret import REDACTED, Secret, dec_hook, is_secret_type
from covetpy.settings.units import DURATION, Unit, parse_duration, parse_size

__all__ = ["Bad", "convert", "is_group"]


class Bad(CovetError):
    """A value that cannot be typed; the message is the reason, safe to print (internal:
    the loader turns it into a Problem)."""


_SEQUENCES = (list, tuple, set, frozenset)


def is_group(tp: Any) -> bool:
    """Whether a field's type is a nested Struct, read key by key (`[db]`, `SHOP_DB__HOST`)."""
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _union_args(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


def _unit(tp: Any) -> Unit | None:
    for arg in _union_args(tp):
        if get_origin(arg) is Annotated:
            for meta in arg.__metadata__:
                if isinstance(meta, Unit):
                    return meta
    return None


def _bare(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _allows(tp: Any, kind: type) -> bool:
    return any(_bare(a) is kind for a in _union_args(tp))


def _is_structured(tp: Any) -> bool:
    """A type a string must spell as JSON (or, for a sequence, as a comma-separated list)."""
    for arg in _union_args(tp):
        base = _bare(arg)
        origin = get_origin(base) or base
        if origin in (*_SEQUENCES, dict) or is_group(base) or dataclasses.is_dataclass(base):
            return True
    return False


def _is_sequence(tp: Any) -> bool:
    return any((get_origin(_bare(a)) or _bare(a)) in _SEQUENCES for a in _union_args(tp))


def _secret_inner(tp: Any) -> tuple[Any, bool]:
    """(the type to convert to, whether the result is wrapped in Secret)."""
    args = _union_args(tp)
    if not any(is_secret_type(a) for a in args):
        return tp, False
    inner = [(get_args(a)[0] if get_args(a) else Any) if is_secret_type(a) else a for a in args]
    return (inner[0] if len(inner) == 1 else Union[tuple(inner)]), True  # noqa: UP007


def convert(tp: Any, value: Any, text: bool) -> Any:
    """`value` typed as `tp`; `text`: a string from env/.env/secret file/--set. Raises Bad."""
    target, secret = _secret_inner(tp)
    try:
        out = _convert(target, value, text)
    except Bad as exc:
        raise Bad(_hide(str(exc), value) if secret else str(exc)) from None
    except msgspec.ValidationError as exc:
        raise Bad(_reason(str(exc), value, text, secret, target)) from None
    if secret and out is not None:
        return Secret(out)
    return out


def _convert(tp: Any, value: Any, text: bool) -> Any:
    unit = _unit(tp)
    if isinstance(value, str) and unit is not None:
        if value.strip() == "" and _allows(tp, type(None)):
            return None
        try:
            number = parse_duration(value) if unit is DURATION else parse_size(value)
        except ValueError as exc:
            raise Bad(str(exc)) from None
        return msgspec.convert(number, tp, strict=False, dec_hook=dec_hook)
    if not (text and isinstance(value, str)):
        return msgspec.convert(value, tp, dec_hook=dec_hook)
    if value == "" and _allows(tp, type(None)) and not _allows(tp, str):
        return None
    if _is_structured(tp):
        stripped = value.strip()
        if stripped.startswith(("[", "{")):
            try:
                return msgspec.json.decode(stripped, type=tp, strict=False, dec_hook=dec_hook)
            except msgspec.DecodeError as exc:
                if isinstance(exc, msgspec.ValidationError):
                    raise
                raise Bad(f"not valid JSON: {exc}") from None
        if _is_sequence(tp):
            items = [item.strip() for item in value.split(",") if item.strip()]
            return msgspec.convert(items, tp, strict=False, dec_hook=dec_hook)
        raise Bad(f'expected JSON (a table or a list), got "{value}"')
    return msgspec.convert(value, tp, strict=False, dec_hook=dec_hook)


_AT = re.compile(r" - at `\$(.*)`$")


def _choices(tp: Any) -> list[Any] | None:
    """The values an Enum or Literal type (or an optional one) allows."""
    out: list[Any] = []
    for arg in _union_args(tp):
        base = _bare(arg)
        if get_origin(base) is typing.Literal:
            out.extend(get_args(base))
        elif isinstance(base, type) and issubclass(base, enum.Enum):
            out.extend(member.value for member in base)
        elif base is not type(None):
            return None
    return out or None


def _reason(message: str, value: Any, text: bool, secret: bool, tp: Any = None) -> str:
    """msgspec's "Expected `int`, got `str` - at `$[1]`" as "expected int, got str at [1]",
    with the string itself instead of "str" when it came as text (never for a secret)."""
    at = ""
    m = _AT.search(message)
    if m is not None:
        message, at = message[: m.start()], m.group(1)
    choices = _choices(tp)
    if choices is not None and not at and message.startswith("Invalid enum value"):
        shown = REDACTED if secret else json.dumps(value)
        listed = ", ".join(json.dumps(c) for c in choices)
        return f"expected one of {listed}, got {shown}"
    message = message.replace("`", "")
    message = message[:1].lower() + message[1:]
    if secret:
        message = _hide(message, value)
    elif not at and isinstance(value, str | int | float) and not isinstance(value, bool):
        if text and isinstance(value, str) and message.endswith("got str"):
            message = message[: -len("str")] + json.dumps(value)
        elif "got" not in message and "invalid" not in message.lower():
            message += f", got {json.dumps(value)}"
    return message + (f" at {at}" if at else "") + (" (value hidden: secret)" if secret else "")


def _hide(message: str, value: Any) -> str:
    """`message` without any sign of a secret `value`."""
    if isinstance(value, str | int | float) and str(value):
        for form in {str(value), repr(value), json.dumps(value)}:
            message = message.replace(form, REDACTED)
    return message
