"""A task's arguments as a msgspec Struct made from its signature, so an enqueue is checked
against the signature where it is made and a worker decodes straight into the types.

`send_receipt(order_id: int, note: str = "")` becomes a Struct with the fields `order_id: int`
and `note: str = ""`; positional arguments of an enqueue are bound to their names first.
`*args`/`**kwargs` cannot be sent (a worker could not check them) and are refused when the task
is declared.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from covetpy.tasks.errors import BadArguments

__all__ = ["Arguments"]


class Arguments:
    """The argument type of one task function."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.name = name
        self.signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
        fields: list[Any] = []
        for p in self.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(
                    f"task {name}: *{p.name} / **{p.name} cannot be sent to a worker; "
                    "name every argument"
                )
            if p.kind is p.POSITIONAL_ONLY:
                raise TypeError(f"task {name}: positional-only {p.name} is not supported")
            ann = hints.get(p.name, Any)
            if p.default is inspect.Parameter.empty:
                fields.append((p.name, ann))
            else:
                fields.append((p.name, ann, p.default))
        # Required fields first is msgspec's rule for positional structs; kw_only lifts it.
        self.type: type[msgspec.Struct] = msgspec.defstruct(
            f"{name}.args", fields, kw_only=True, forbid_unknown_fields=True
        )
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(self.type)
        self._names = tuple(self.signature.parameters)
        returns = hints.get("return", Any)
        self.returns: Any = returns
        self.returns_none = returns is None or returns is type(None)

    def encode(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """The msgpack of the call's arguments, checked against the signature."""
        if args:
            if len(args) > len(self._names):
                raise BadArguments(
                    f"task {self.name} takes {len(self._names)} argument(s), {len(args)} given"
                )
            for name, value in zip(self._names, args, strict=False):
                if name in kwargs:
                    raise BadArguments(f"task {self.name}: {name} given twice")
                kwargs[name] = value
        try:
            value = msgspec.convert(kwargs, self.type, from_attributes=False)
        except msgspec.ValidationError as exc:
            raise BadArguments(f"task {self.name}: {exc}") from None
        return self._encoder.encode(value)

    def decode(self, data: bytes) -> dict[str, Any]:
        """The keyword arguments of a run (`msgspec.ValidationError` when they do not fit)."""
        value = self._decoder.decode(data)
        return {name: getattr(value, name) for name in self._names}
