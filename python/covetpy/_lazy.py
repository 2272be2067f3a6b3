"""Package namespaces that import their names on first use (PEP 562).

A package `__init__` that re-exports from its submodules imports all of them with the package;
a worker of a hello-world app then holds auth, tasks and events it never uses (adrs/0020).
With `exports`, `from covetpy.auth import JWTAuth` still works and imports what JWTAuth needs,
while `from covetpy.auth.layers import AuthLayer` no longer imports the rest of the package.
The real imports stay in the `__init__` under `if TYPE_CHECKING:` so type checkers and IDEs
see the names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["exports"]


def exports(
    package: str, sources: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, whose public names come from the
    submodules in `sources` (`{"covetpy.auth.basic": ["BasicAuth"], ...}`)."""
    where = {name: module for module, names in sources.items() for name in names}
    namespace = vars(sys.modules[package])
    for module, names in sources.items():
        # A name that is also its submodule's name (`covetpy.auth.requires.requires`) must be
        # bound now: importing the submodule later would set the package attribute to the
        # module, and `from covetpy.auth import requires` would then get the module.
        if module.rpartition(".")[2] in names:
            namespace.update({n: getattr(importlib.import_module(module), n) for n in names})

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next access skips this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
