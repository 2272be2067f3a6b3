"""The document's security: `components.securitySchemes` from the app's authentication
layers (and the schemes of `App(security_schemes=[...])`, such as `OAuth2`), and each
operation's `security` requirement with its 401 and 403 responses.

An operation's requirement says what the server enforces:
- a `public=True` route that requires nothing: `security: []` (no layer refuses it);
- a route that requires something (`requires=`, `requires(...)` among its dependencies, a
  parameter marked `Auth()`, `Depends(current_user)`): one alternative per scheme, each
  listing what the route needs (OpenAPI 3.1 §4.8.30: scopes for `oauth2` and
  `openIdConnect`, "role names" for the others: there, its scopes, roles and permissions);
- any other route: every scheme with no names when a layer is not `optional` (a request
  without a credential is refused), else the same preceded by `{}` (anonymous is allowed).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

from covetpy.auth.layers import OIDC, APIKeyAuth, JWTAuth
from covetpy.auth.requires import Auth, Requires, current_user
from covetpy.openapi.problem import PROBLEM_MEDIA_TYPE, Problem
from covetpy.openapi.schemas import SchemaRegistry
from covetpy.params.plan import CallPlan
from covetpy.routing.route import Route

if TYPE_CHECKING:
    from covetpy.app import App

__all__ = [
    "Scheme",
    "SecurityPlan",
    "auth_responses",
    "operation_security",
    "route_requirements",
    "scheme_object",
]

# Scheme types whose requirement lists are scopes (OpenAPI 3.1 §4.8.30).
_SCOPED_TYPES = frozenset({"oauth2", "openIdConnect"})


def scheme_object(source: Any) -> dict[str, Any]:
    """The Security Scheme Object of a layer or a declared scheme: its `openapi_scheme()`
    when it has one, else the one its kind implies."""
    method = getattr(source, "openapi_scheme", None)
    if callable(method):
        return dict(method())
    if isinstance(source, OIDC):
        return {"type": "openIdConnect", "openIdConnectUrl": source.configuration_url}
    if isinstance(source, JWTAuth):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    if isinstance(source, APIKeyAuth):
        if source.header is not None:
            return {"type": "apiKey", "in": "header", "name": source.header}
        return {"type": "apiKey", "in": "query", "name": source.query}
    raise TypeError(
        f"{type(source).__name__} has no OpenAPI security scheme: give it an "
        "openapi_scheme() method"
    )


@dataclass(frozen=True)
class Scheme:
    """One entry of `components.securitySchemes`."""

    name: str
    object: dict[str, Any]

    @property
    def scoped(self) -> bool:
        """Whether requirements on it list OAuth scopes (else role names)."""
        return self.object.get("type") in _SCOPED_TYPES


class SecurityPlan:
    """The app's schemes, gathered once per document."""

    def __init__(self, app: App) -> None:
        layers = app.auth_layers
        declared = list(app.security_schemes)
        self.schemes: list[Scheme] = []
        for source in (*layers, *declared):
            self._add(str(getattr(source, "scheme_name", "") or type(source).__name__), source)
        # Only a layer refuses requests; a declared scheme documents, it enforces nothing.
        self.enforced = any(not layer.optional for layer in layers)

    def _add(self, name: str, source: Any) -> None:
        obj = scheme_object(source)
        for scheme in self.schemes:
            if scheme.object == obj and scheme.name == name:
                return  # e.g. two JWTAuth layers (HS and RS keys): one bearer scheme
        taken = {s.name for s in self.schemes}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        self.schemes.append(Scheme(unique, obj))

    def components(self) -> dict[str, Any]:
        """The `components.securitySchemes` map (empty when the app has no schemes)."""
        return {s.name: s.object for s in self.schemes}


def _as_requires(value: Any) -> list[Requires]:
    if value is None:
        return []
    if isinstance(value, Requires):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, Requires)]
    return []


def _plans(plan: CallPlan) -> Iterator[CallPlan]:
    yield plan
    for spec in (*plan.pre, *plan.params):
        if spec.dependency is not None:
            yield from _plans(spec.dependency)


def _auth_marked(declared: Any) -> bool:
    return get_origin(declared) is Annotated and any(
        isinstance(m, Auth) for m in get_args(declared)[1:]
    )


def route_requirements(route: Route) -> list[Requires]:
    """What `route` requires of its caller: its `requires=` option, the `Requires` among its
    (and its routers' and app's) dependencies, and an empty `Requires()` (authenticated) for
    `Depends(current_user)` or a required parameter marked `Auth()`."""
    found = _as_requires(getattr(route, "requires", None))
    found += _as_requires(getattr(route, "dependencies", None))  # `dependencies=[requires()]`
    for plan in _plans(route.plan):
        if isinstance(plan.call, Requires):
            found.append(plan.call)
        elif plan.call is current_user:
            found.append(Requires())
    if any(s.required and _auth_marked(s.declared) for s in route.plan.walk()):
        found.append(Requires())
    return list(dict.fromkeys(found))


def _names(req: Requires, scoped: bool) -> list[tuple[str, ...]]:
    """The alternatives (an `any_of` branches out) as the names a requirement lists."""
    own = req.scopes if scoped else (*req.scopes, *req.roles, *req.permissions)
    if not req.any_of:
        return [own]
    return [(*own, *alt) for branch in req.any_of for alt in _names(branch, scoped)]


def _alternatives(reqs: list[Requires], scoped: bool) -> list[list[str]]:
    """Every requirement must hold: one alternative per combination of their branches."""
    out: list[list[str]] = []
    for combo in itertools.product(*(_names(r, scoped) for r in reqs)):
        names = list(dict.fromkeys(n for part in combo for n in part))
        if names not in out:
            out.append(names)
    return out


def operation_security(
    route: Route, plan: SecurityPlan
) -> tuple[list[dict[str, list[str]]] | None, bool]:
    """The operation's `security` list (None: leave it out) and whether a 403 can happen
    (the route requires more than being authenticated)."""
    if not plan.schemes:
        return None, False
    reqs = route_requirements(route)
    if getattr(route, "public", False) and not reqs:
        return [], False
    if reqs:  # also on a public route: `public` lifts the layers' 401, not a requirement's
        security = [
            {scheme.name: names}
            for scheme in plan.schemes
            for names in _alternatives(reqs, scheme.scoped)
        ]
        forbidden = any(_names(r, scoped=False) != [()] for r in reqs)
        return security, forbidden
    anyone: list[dict[str, list[str]]] = [] if plan.enforced else [{}]
    return anyone + [{scheme.name: []} for scheme in plan.schemes], False


def auth_responses(
    responses: dict[str, Any], forbidden: bool, registry: SchemaRegistry
) -> dict[str, Any]:
    """`responses` with 401 (and, when `forbidden`, 403) problem responses before `default`."""
    challenge = {
        "WWW-Authenticate": {
            "description": "The challenge (RFC 9110 §11.6.1; RFC 6750 §3 for bearer tokens)",
            "schema": {"type": "string"},
        }
    }
    added: dict[str, Any] = {
        "401": {
            "description": "Unauthorized: no credential, or one that did not verify",
            "headers": challenge,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": registry.schema(Problem)}},
        }
    }
    if forbidden:
        added["403"] = {
            "description": "Forbidden: the credential lacks a required scope, role or permission",
            "headers": challenge,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": registry.schema(Problem)}},
        }
    out = {k: v for k, v in responses.items() if k != "default"}
    for status, response in added.items():
        out.setdefault(status, response)
    if "default" in responses:
        out["default"] = responses["default"]
    return out
