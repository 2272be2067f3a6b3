"""What a failed load reports: every problem at once, each naming its key, its source and why.

One start-up that lists all the bad keys beats a fix-and-retry loop that finds them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from covetpy.exceptions import ConfigError

__all__ = ["Problem", "SettingsError"]


@dataclass(frozen=True)
class Problem:
    """One bad key: `where` names the key as its source spells it (`SHOP_PAGE_SIZE
    (environment)`, `covetpy.toml:3 [server] port`, `secret file /run/secrets/x`); `reason`
    never contains a secret's value."""

    key: str
    """The setting's dotted name (`page_size`, `db.host`, `server.port`)."""
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class SettingsError(ConfigError):
    """The configuration did not load; `problems` lists every bad key, one per line in the
    message."""

    def __init__(self, problems: Sequence[Problem], what: str = "configuration") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{what}: {n} problem{'s' if n != 1 else ''}\n{lines}")
