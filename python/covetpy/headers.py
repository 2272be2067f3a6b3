"""`MutableHeaders`: the headers of a `Response` as a case-insensitive, multi-valued mapping
that writes through to the response's `raw_headers` list, the list the server sends.

```python
response.headers["cache-control"] = "no-store"   # replaces every cache-control field
response.headers.append("set-cookie", "a=1")      # adds one more field of that name
del response.headers["x-powered-by"]
response.headers.getlist("set-cookie")            # every value, in order
```

Names are stored in lower case. Lookups (`[]`, `get`) give the first value of a name;
`items()` gives every field, repeated ones included, in order; `keys()`, iteration and
`len()` count each name once. A name that is not an RFC 9110 token, or a value with CR, LF,
NUL or another control character (which would split the response: header injection), raises
`InvalidHeader` at once.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping

from covetpy._core import CovetError

__all__ = ["InvalidHeader", "MutableHeaders"]

# RFC 9110 §5.1: a field name is a token (§5.6.2). The same rules as rust/protocol/h1/encode.rs.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: no control character in a value but HTAB.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class InvalidHeader(CovetError, ValueError):
    """A header name that is not a token, or a value with a control character (CR, LF, NUL...)."""


def _name(name: object) -> str:
    if type(name) is not str:
        raise TypeError(f"a header name must be a str, not {type(name).__name__}")
    if _NAME.fullmatch(name) is None:
        raise InvalidHeader(f"invalid header name {name!r}: not an RFC 9110 token")
    return name.lower()


def _value(name: str, value: object) -> str:
    if type(value) is not str:
        raise TypeError(f"the value of header {name!r} must be a str, not {type(value).__name__}")
    if _BAD_VALUE.search(value) is not None:
        raise InvalidHeader(f"invalid value for header {name!r}: {value!r} has a control character")
    return value


class _Fields(ItemsView[str, str]):
    """`items()`: every (name, value) field, repeated names included, in order."""

    _mapping: MutableHeaders

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._mapping.raw))

    def __len__(self) -> int:
        return len(self._mapping.raw)

    def __contains__(self, item: object) -> bool:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            return False
        return (item[0].lower(), item[1]) in self._mapping.raw


class MutableHeaders(MutableMapping[str, str]):
    """A view over `raw`, a list of (lower-case name, value) pairs: every change is made to
    that list in place (see the module docstring)."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[str, str]]) -> None:
        self.raw = raw

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for k, v in self.raw:
            if k == key:
                return v
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        """Sets `name` to `value`, replacing every field of that name (the first keeps its
        place)."""
        key = _name(name)
        field = (key, _value(key, value))
        raw = self.raw
        found = [i for i, (k, _) in enumerate(raw) if k == key]
        if not found:
            raw.append(field)
            return
        raw[found[0]] = field
        for i in reversed(found[1:]):
            del raw[i]

    def __delitem__(self, name: str) -> None:
        """Removes every field of `name`."""
        key = name.lower()
        kept = [(k, v) for k, v in self.raw if k != key]
        if len(kept) == len(self.raw):
            raise KeyError(name)
        self.raw[:] = kept

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(k == key for k, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self.raw))

    def __len__(self) -> int:
        return len({k for k, _ in self.raw})

    def __eq__(self, other: object) -> bool:
        """Equal to a mapping with the same fields (names compared in lower case), in any
        order."""
        if not isinstance(other, Mapping):
            return NotImplemented
        theirs = [(str(k).lower(), v) for k, v in other.items()]
        return sorted(self.raw) == sorted(theirs)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def items(self) -> _Fields:
        """Every (name, value) field, repeated names included, in order."""
        return _Fields(self)

    def getlist(self, name: str) -> list[str]:
        """Every value of `name`, in order (empty if there is none)."""
        key = name.lower()
        return [v for k, v in self.raw if k == key]

    def append(self, name: str, value: str) -> None:
        """Adds a field, keeping those of the same name (`set-cookie`, `vary`, `link`...)."""
        key = _name(name)
        self.raw.append((key, _value(key, value)))

    def clear(self) -> None:
        """Removes every field."""
        self.raw.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.raw!r})"
