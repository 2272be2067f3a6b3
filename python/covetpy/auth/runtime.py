"""The app's authentication as the server runs it: the layers' spec for Rust (with the JWKS
fetched), each route's policy, and the gate for what Python still decides.

Rust verifies JWTs and hashed API keys and checks route requirements itself. Python is asked
only (`request.auth_pending`) when no Rust layer found a credential and the app has
Python-verified layers (`BasicAuth`, `APIKeyAuth(keys=callable)`, `Sessions`), or when a token
names a `kid` the JWKS lacks and a refresh is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from covetpy.auth.errors import AuthFailed, bearer_challenge
from covetpy.auth.layers import OIDC, APIKeyAuth, AuthLayer, JWTAuth
from covetpy.auth.requires import Requires
from covetpy.exceptions import ConfigError, HTTPException

if TYPE_CHECKING:
    from covetpy.auth.jwks import JwksSource

__all__ = ["AuthRuntime", "policy_of", "route_requirements"]

audit = logging.getLogger("covetpy.audit")


def route_requirements(route: Any) -> tuple[tuple[Requires, ...], bool]:
    """A route's requirements (its `requires=` option and the `Requires` among its app's,
    routers' and own dependencies) and whether it is public."""
    found = [r for r in route.requires if isinstance(r, Requires)]
    for dep in route.dependencies:
        dep = getattr(dep, "dependency", dep)
        if isinstance(dep, Requires) and dep not in found:
            found.append(dep)
    return tuple(found), bool(route.public)


def policy_of(requires: Sequence[Requires], public: bool) -> dict[str, Any] | None:
    """A route's policy for Rust (None: the default)."""
    if not requires and not public:
        return None
    return {"public": public, "requires": [r.spec() for r in requires]}


class AuthRuntime:
    """The auth layers of one app."""

    def __init__(self, role_permissions: Mapping[str, Sequence[str]] | None = None) -> None:
        self.layers: list[AuthLayer] = []
        self.role_permissions = {k: tuple(v) for k, v in (role_permissions or {}).items()}
        self.policies: list[tuple[tuple[Requires, ...], bool]] = []
        self.audit_all = False
        self._sources: dict[int, JwksSource] = {}
        self._server: Any = None
        self._refresher: asyncio.Task[None] | None = None

    def add(self, layer: AuthLayer) -> None:
        """Adds a layer (in declaration order)."""
        self.layers.append(layer)
        self.__dict__.pop("python_schemes", None)

    @functools.cached_property
    def python_schemes(self) -> list[Any]:
        """The layers verified in Python, in order, as PythonSchemes (made once: the gate
        reads them per request it runs for)."""
        out: list[Any] = []
        for layer in self.layers:
            if isinstance(layer, APIKeyAuth) and layer.in_python:
                from covetpy.auth.lookup import APIKeyLookup

                out.append(APIKeyLookup(layer))
            elif layer.in_python:
                out.append(layer)
        return out

    # -- what Rust receives -------------------------------------------------------------------

    def spec(self) -> dict[str, Any] | None:
        """The `Runtime.auth` dict (None without layers); fetches JWKS not yet loaded."""
        if not self.layers:
            return None
        specs = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, JWTAuth):
                spec = layer.spec()
                if layer.key is None:
                    spec["jwks"] = self._source(i, layer).document or self._source(i, layer).load()
                specs.append(spec)
            elif isinstance(layer, APIKeyAuth):
                specs.append(layer.spec())
            else:
                specs.append(
                    {
                        "kind": "python",
                        "optional": layer.optional,
                        "challenge": getattr(layer, "challenge_kind", "bearer"),
                    }
                )
        realm = next(
            (getattr(la, "realm", "") for la in self.layers if getattr(la, "realm", "")), ""
        )
        return {
            "layers": specs,
            "role_permissions": {k: list(v) for k, v in self.role_permissions.items()},
            "realm": realm,
            "audit": self.audit_all,
        }

    def _source(self, index: int, layer: JWTAuth) -> JwksSource:
        # Here: the JWKS client pulls in urllib.request, http.client and email (adrs/0020).
        from covetpy.auth.jwks import JwksSource, discover_jwks_uri

        source = self._sources.get(index)
        if source is None:
            url = layer.jwks_url
            if isinstance(layer, OIDC) and url is None:
                assert layer.issuer
                url = discover_jwks_uri(layer.configuration_url, str(layer.issuer[0]))
            if url is None:
                raise ConfigError("JWTAuth: give exactly one of key= and jwks_url=")
            source = self._sources[index] = JwksSource(url)
        return source

    # -- lifecycle --------------------------------------------------------------------------

    def serving(self, server: Any) -> None:
        """Called with the worker's Rust server once it exists (None when it stopped)."""
        self._server = server

    async def start(self) -> None:
        """Starts refreshing the JWKS when their max-age runs out."""
        if self._sources and self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        """Stops the refresher."""
        task, self._refresher = self._refresher, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh_loop(self) -> None:
        while True:
            soonest = min(s.expires for s in self._sources.values())
            await asyncio.sleep(max(1.0, soonest - time.time()))
            for index, source in self._sources.items():
                if source.expires <= time.time():
                    await self.refresh(index)

    async def refresh(self, index: int) -> bool:
        """Fetches layer `index`'s JWKS again and hands it to Rust; False when it failed (the
        keys in use stay)."""
        source = self._sources.get(index)
        if source is None:
            return False
        document = await source.refresh()
        if document is None:
            # Try again after the cool-down rather than at once.
            source.expires = time.time() + 30.0
            return False
        if self._server is not None:
            try:
                self._server.set_jwks(index, document)
            except ValueError as exc:
                audit.warning("JWKS at %s: refused, keeping the keys in use: %s", source.url, exc)
                return False
        return True

    # -- the gate -----------------------------------------------------------------------------

    async def gate(
        self,
        request: Any,
        route: int,
        handler: Callable[..., Any],
        args: tuple[Any, ...],
        slots: Sequence[int] = (),
    ) -> Any:
        """Decides what Rust left to Python, then runs the handler; `slots` are the positions
        of its `Annotated[Identity, Auth()]` arguments, filled in with `request.auth`."""
        pending = request.auth_pending
        try:
            if isinstance(pending, int):
                await self.refresh(pending)
                refusal = request.reauthenticate()
                if refusal is not None:
                    status, reason, detail, challenges = refusal
                    self._refused(request, reason, "jwt")
                    raise HTTPException(status, detail, {"www-authenticate": challenges[0]})
            else:
                await self._python_schemes(request, route)
        except AuthFailed as exc:
            self._refused(request, exc.reason, "python")
            raise
        if slots:
            identity = request.auth
            if identity is None:
                raise AuthFailed("missing", "authentication required", bearer_challenge())
            filled = list(args)
            for i in slots:
                filled[i] = identity
            args = tuple(filled)
        result = handler(*args)
        return await result if inspect.isawaitable(result) else result

    async def _python_schemes(self, request: Any, route: int) -> None:
        identity = request.auth
        if identity is None:
            for scheme in self.python_schemes:
                credential = scheme.credential(request)
                if credential is None:
                    continue
                identity = await scheme.authenticate(request, credential)
                if identity is not None:
                    request.auth = identity
                    break
        requires, public = self.policies[route] if route < len(self.policies) else ((), False)
        if identity is None:
            needed = bool(requires) or (not public and any(not la.optional for la in self.layers))
            if needed:
                challenges = [s.challenge() for s in self.python_schemes] or [bearer_challenge()]
                raise AuthFailed("missing", "authentication required", challenges[0])
            return
        for req in requires:
            gap = req.missing(identity, self.role_permissions)
            if gap is not None:
                from covetpy.auth.errors import InsufficientScope

                self._refused(request, "insufficient_" + gap[0], identity.scheme)
                raise InsufficientScope(gap[1], gap[0])
        if self.audit_all:
            audit.info(
                "auth granted %s %s",
                request.method,
                request.path,
                extra={"subject": identity.subject, "scheme": identity.scheme},
            )

    def _refused(self, request: Any, reason: str, scheme: str) -> None:
        if self._server is not None:
            self._server.count_auth_failure(reason)
        audit.info(
            "auth unauthorized %s %s reason=%s scheme=%s request_id=%s",
            request.method,
            request.path,
            reason,
            scheme,
            request.request_id,
        )
