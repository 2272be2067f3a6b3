"""Markers that say where a handler parameter comes from: `Query`, `Header`, `Cookie`, `Body`,
`Form`, `File`, and `Depends` for dependencies. Used as defaults:

```python
def handler(q: str = Query(max_length=50), ua: str = Header(alias="user-agent"),
            store: Store = Depends(get_store)) -> ...
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = ["Body", "Cookie", "Depends", "File", "Form", "Header", "Param", "Query", "Required"]


class _RequiredType:
    """The default of a marker whose value must be present."""

    _instance: _RequiredType | None = None

    def __new__(cls) -> _RequiredType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Required"


Required: Any = _RequiredType()


@dataclass(frozen=True)
class Param:
    """Where a value comes from, its alias and its constraints (checked by msgspec)."""

    location: str
    default: Any = Required
    alias: str | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str | None = None
    examples: list[Any] | None = None
    include_in_schema: bool = True

    def meta(self) -> msgspec.Meta | None:
        """The constraints as a msgspec.Meta, or None when there are none."""
        kw = {
            k: v
            for k, v in {
                "gt": self.gt,
                "ge": self.ge,
                "lt": self.lt,
                "le": self.le,
                "min_length": self.min_length,
                "max_length": self.max_length,
                "pattern": self.pattern,
            }.items()
            if v is not None
        }
        meta: msgspec.Meta | None = msgspec.Meta(**kw) if kw else None  # type: ignore[call-overload]
        return meta


def _marker(location: str) -> Callable[..., Any]:
    def make(
        default: Any = Required,
        *,
        alias: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        include_in_schema: bool = True,
    ) -> Any:
        return Param(
            location,
            default,
            alias,
            gt,
            ge,
            lt,
            le,
            min_length,
            max_length,
            pattern,
            description,
            examples,
            include_in_schema,
        )

    make.__name__ = location.capitalize()
    make.__doc__ = f"A parameter read from the request's {location}."
    return make


Query = _marker("query")
Header = _marker("header")
Cookie = _marker("cookie")
Body = _marker("body")
Form = _marker("form")
File = _marker("file")


@dataclass(frozen=True)
class _Depends:
    dependency: Callable[..., Any]
    use_cache: bool = True
    sync_to_thread: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def Depends(
    dependency: Callable[..., Any], *, use_cache: bool = True, sync_to_thread: bool = False
) -> Any:
    """A value computed by `dependency` (sync, async, or a generator with teardown), whose own
    parameters are resolved like a handler's. Cached per request unless `use_cache=False`."""
    return _Depends(dependency, use_cache, sync_to_thread)
