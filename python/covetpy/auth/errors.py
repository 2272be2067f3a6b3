"""The answers of authentication and authorization decided in Python (the ones decided in Rust
have the same shape: `rust/auth/answer.rs`)."""

from __future__ import annotations

from collections.abc import Iterable

from covetpy.exceptions import HTTPException

__all__ = ["AuthFailed", "InsufficientScope", "bearer_challenge"]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    realm: str = "",
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    scheme: str = "Bearer",
) -> str:
    """A `WWW-Authenticate` challenge (RFC 6750 §3, RFC 7617 §2, RFC 9110 §11.6.1)."""
    params = []
    if realm:
        params.append(f"realm={_quote(realm)}")
    if error:
        params.append(f"error={_quote(error)}")
    if description:
        params.append(f"error_description={_quote(description)}")
    if scope:
        params.append(f"scope={_quote(scope)}")
    return scheme + (" " + ", ".join(params) if params else "")


class AuthFailed(HTTPException):
    """401: no credential, or one that did not verify. `reason` names the check that failed
    (the audit log and the metrics use it; it never contains the credential), `challenge`
    is the `WWW-Authenticate` value."""

    def __init__(self, reason: str, description: str, challenge: str) -> None:
        super().__init__(401, description, {"www-authenticate": challenge})
        self.reason = reason


class InsufficientScope(HTTPException):
    """403 `insufficient_scope` (RFC 6750 §3.1): authenticated, but without what the route
    requires; `missing` names it."""

    def __init__(self, missing: Iterable[str], what: str = "scope") -> None:
        missing = sorted(missing)
        detail = f"missing {what}{'s' if len(missing) != 1 else ''}: {' '.join(missing)}"
        super().__init__(
            403,
            detail,
            {
                "www-authenticate": bearer_challenge(
                    error="insufficient_scope", description=detail, scope=" ".join(missing)
                )
            },
        )
        self.reason = "insufficient_" + what
        self.missing = missing
