"""Cross-site request forgery protection for cookie sessions (`Sessions(csrf=True)`).

A browser sends the session cookie with requests other sites make it send; an unsafe request
(POST, PUT, PATCH, DELETE) that carries the session cookie must show that it comes from the
app's own pages. The checks, first match wins (OWASP CSRF Prevention Cheat Sheet):

1. `Sec-Fetch-Site` (Fetch Metadata, set by the browser and not by scripts): `same-origin` or
   `none` (typed in, a bookmark) pass; `same-site` and `cross-site` pass only from an
   `Origin` in `trusted_origins`.
2. Without it (older browsers), `Origin`, else the origin of `Referer`, must be the request's
   own origin (its scheme and Host) or a trusted one.
3. With neither (non-browser clients, privacy proxies): the `x-csrf-token` header must equal
   the session's token (`csrf_token(request)`: render it into the page or hand it to the
   script) — the double-submit pattern, compared in constant time.

A refusal is 403 problem+json whose detail names the check that failed. A request without
the session cookie is not checked (nothing of the user's rides on it); so that a login form
is checked too (login CSRF), give its page a session first, e.g. with `csrf_token(request)`.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING

from covetpy.exceptions import ConfigError, HTTPException
from covetpy.requests import Request

if TYPE_CHECKING:
    from covetpy.auth.sessions import Session

__all__ = ["CSRF_HEADER", "UNSAFE_METHODS", "check_csrf", "csrf_token", "normalize_origin"]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` lowercased with the default port dropped; None when `value`
    is not an origin (or a URL that has one), such as the opaque origin `null`."""
    try:
        parts = urllib.parse.urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def trusted(origins: Iterable[str]) -> frozenset[str]:
    """`trusted_origins` normalized; ConfigError naming one that is not an origin."""
    result = set()
    for origin in origins:
        normal = normalize_origin(origin)
        if normal is None:
            raise ConfigError(
                f"Sessions trusted_origins: {origin!r} is not an origin (https://host[:port])"
            )
        result.add(normal)
    return frozenset(result)


def _own_origin(request: Request) -> str | None:
    host = request.host or request.header("host")
    return normalize_origin(f"{request.scheme}://{host}") if host else None


def _refuse(detail: str) -> HTTPException:
    return HTTPException(403, f"CSRF check failed: {detail}")


def check_csrf(request: Request, session: Session, trusted_origins: frozenset[str]) -> None:
    """Raises HTTPException 403 unless the unsafe request `request` comes from the app's own
    pages (the module's docstring gives the order of the checks)."""
    origin_header = request.header("origin")
    origin = normalize_origin(origin_header) if origin_header else None
    site = (request.header("sec-fetch-site") or "").strip().lower()
    if site in ("same-origin", "none"):
        return
    if site in ("same-site", "cross-site"):
        if origin is not None and origin in trusted_origins:
            return
        raise _refuse(f"Sec-Fetch-Site is {site} and Origin is not a trusted origin")
    if origin_header is None:
        referer = request.header("referer")
        if referer:
            origin_header = referer
            origin = normalize_origin(referer)
    if origin_header is not None:
        if origin is not None and (origin == _own_origin(request) or origin in trusted_origins):
            return
        raise _refuse("Origin (or Referer) is neither this site's origin nor a trusted one")
    sent = request.header(CSRF_HEADER)
    expected = session.csrf
    if sent and expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return
    raise _refuse(
        f"no Sec-Fetch-Site, Origin or Referer, and the {CSRF_HEADER} header "
        f"{'does not match the session token' if sent else 'is missing'}"
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use, kept in the session), for the
    `x-csrf-token` header of scripts and API clients. Needs the `Sessions` middleware."""
    from covetpy.auth.sessions import session_of

    session = session_of(request)
    if session.csrf is None:
        session.csrf = secrets.token_urlsafe(32)
        session.modified = True
    return session.csrf
