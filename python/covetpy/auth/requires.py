"""Authorization: `requires(...)` and the `Auth()` marker.

```python
@app.get("/orders", dependencies=[requires(scopes=["orders:read"])])
async def orders(user: Annotated[Identity, Auth()]) -> list[Order]: ...

@app.delete("/orders/{id:int}", requires=requires(roles=["admin"]))
async def drop(id: int) -> None: ...

admin = Router(prefix="/admin", dependencies=[requires(permissions=["admin:*"])])
```

A requirement holds when the identity has every listed scope, every listed role and every
listed permission (scopes plus what its roles grant by `App(role_permissions=...)`), or,
with `any_of`, when one of the alternatives holds. Several requirements on one route (the
app's, the routers', the route's) must all hold. No identity: 401; an identity without what is
required: 403 `insufficient_scope` naming what is missing. Rust checks them before Python for
identities it verified; they run here only for identities a Python scheme made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from covetpy.auth.errors import AuthFailed, InsufficientScope, bearer_challenge
from covetpy.auth.identity import Identity
from covetpy.requests import Request

__all__ = ["Auth", "Requires", "current_user", "requires"]


@dataclass(frozen=True)
class Requires:
    """What a route requires of its caller's identity (`requires(...)` makes one)."""

    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    any_of: tuple[Requires, ...] = ()

    def missing(
        self, identity: Identity, role_permissions: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[str, list[str]] | None:
        """None when `identity` satisfies this requirement, else (what, the missing names) of
        the first unmet part (`"scope"`, `"role"`, `"permission"`)."""
        own = self._missing_own(identity, role_permissions)
        if own is not None or not self.any_of:
            return own
        first = None
        for alternative in self.any_of:
            gap = alternative.missing(identity, role_permissions)
            if gap is None:
                return None
            first = first or gap
        return first

    def _missing_own(
        self, identity: Identity, role_permissions: Mapping[str, Sequence[str]] | None
    ) -> tuple[str, list[str]] | None:
        gap = [s for s in self.scopes if s not in identity.scopes]
        if gap:
            return "scope", gap
        gap = [r for r in self.roles if r not in identity.roles]
        if gap:
            return "role", gap
        if self.permissions:
            granted = set(identity.permissions)
            for role in identity.roles:
                granted.update((role_permissions or {}).get(role, ()))
            gap = [p for p in self.permissions if p not in granted]
            if gap:
                return "permission", gap
        return None

    def spec(self) -> dict[str, Any]:
        """What Rust reads (`rust/auth/policy.rs`)."""
        return {
            "scopes": list(self.scopes),
            "roles": list(self.roles),
            "permissions": list(self.permissions),
            "any_of": [a.spec() for a in self.any_of],
        }

    def check(self, request: Request) -> Identity:
        """The request's identity if it satisfies this requirement; raises AuthFailed (401)
        or InsufficientScope (403)."""
        identity: Identity | None = request.auth
        if identity is None:
            raise AuthFailed("missing", "authentication required", bearer_challenge())
        # `identity.permissions` already holds what its roles grant (Rust adds the app's
        # table when it makes the identity).
        gap = self.missing(identity)
        if gap is not None:
            raise InsufficientScope(gap[1], gap[0])
        return identity

    def __call__(self, request: Request) -> Identity:
        return self.check(request)


def requires(
    *,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    any_of: Iterable[Requires] = (),
) -> Requires:
    """A requirement on the caller's identity, for `dependencies=[...]` (app, router, route)
    or a route's `requires=` option. No arguments: any authenticated caller."""
    for name, values in (("scopes", scopes), ("roles", roles), ("permissions", permissions)):
        if isinstance(values, str):
            raise TypeError(f"requires({name}=...) takes a list of names, not one string")
    return Requires(tuple(scopes), tuple(roles), tuple(permissions), tuple(any_of))


class Auth:
    """Parameter marker: `user: Annotated[Identity, Auth()]` injects `request.auth` (401 when
    there is none unless the parameter defaults to None); `Annotated[MyClaims, Auth()]`
    decodes the token's claims into the msgspec Struct `MyClaims`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Auth()"


def current_user(request: Request) -> Identity:
    """A dependency: the request's identity (401 without one). `Depends(current_user)`."""
    identity: Identity | None = request.auth
    if identity is None:
        raise AuthFailed("missing", "authentication required", bearer_challenge())
    return identity
