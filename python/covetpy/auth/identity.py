"""`request.auth`: who made the request, as the authentication layer verified it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec

__all__ = ["Identity"]

T = TypeVar("T")


class Identity:
    """A verified identity.

    - `scheme`: which layer verified it (`"jwt"`, `"api_key"`, `"basic"`, `"session"`, ...).
    - `subject`: the token's `sub`, the API key's name, the user name.
    - `scopes`, `roles`: what it was granted; `permissions`: its scopes plus what its roles
      grant by the app's `role_permissions` table.
    - `claims`: the token's payload (decoded on first use); `claims_as(MyClaims)` decodes it
      into a msgspec Struct (a `Struct` declared as `Annotated[MyClaims, Auth()]` does this).
    """

    __slots__ = ("_claims", "_raw", "permissions", "roles", "scheme", "scopes", "subject")

    def __init__(
        self,
        scheme: str,
        subject: str | None,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        claims: Mapping[str, Any] | bytes | None = None,
    ) -> None:
        self.scheme = scheme
        self.subject = subject
        self.scopes = frozenset(scopes)
        self.roles = frozenset(roles)
        self.permissions = self.scopes if permissions is None else frozenset(permissions)
        self._raw = claims if isinstance(claims, bytes) else None
        self._claims: dict[str, Any] | None = (
            dict(claims) if claims is not None and not isinstance(claims, bytes) else None
        )

    @property
    def claims(self) -> dict[str, Any]:
        """The token's claims (an empty dict for schemes without any)."""
        if self._claims is None:
            self._claims = msgspec.json.decode(self._raw) if self._raw else {}
        return self._claims

    def claims_as(self, type_: type[T]) -> T:
        """The claims decoded into `type_` (a msgspec Struct, dataclass, TypedDict...);
        `msgspec.ValidationError` when they do not fit."""
        if self._raw is not None:
            return msgspec.json.decode(self._raw, type=type_)
        return msgspec.convert(self.claims, type_)

    def __repr__(self) -> str:
        return (
            f"Identity(scheme={self.scheme!r}, subject={self.subject!r}, "
            f"scopes={sorted(self.scopes)!r}, roles={sorted(self.roles)!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Identity):
            return NotImplemented
        return (self.scheme, self.subject, self.scopes, self.roles) == (
            other.scheme,
            other.subject,
            other.scopes,
            other.roles,
        )

    __hash__ = None  # type: ignore[assignment]
