"""HTTP Basic authentication (RFC 7617), verified in Python by a function of the app's.

```python
async def verify(username: str, password: str) -> Identity | None:
    user = await users.get(username)
    if user is None or not await hasher.verify(user.password_hash, password):
        return None
    return Identity("basic", username, roles=user.roles)

app = App(middleware=[BasicAuth(verify=verify, realm="admin")])
```

Basic sends the password with every request: use it over TLS only, and for machine clients
or small internal tools rather than for browsers (which cache it until they are closed).
"""

from __future__ import annotations

import base64
import binascii
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from covetpy.auth.errors import AuthFailed
from covetpy.auth.identity import Identity
from covetpy.auth.layers import AuthLayer
from covetpy.exceptions import ConfigError
from covetpy.requests import Request

__all__ = ["BasicAuth", "basic_challenge"]

# A credential longer than this is refused before decoding (user names and passwords of a
# few hundred bytes are already generous; this bounds the work a client can ask for).
_MAX_CREDENTIAL = 4096


def basic_challenge(realm: str) -> str:
    """`Basic realm="...", charset="UTF-8"` (RFC 7617 §2, §2.1)."""
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{quoted}", charset="UTF-8"'


def _has_control(text: str) -> bool:
    # RFC 7617 §2: neither the user-id nor the password may contain control characters.
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


@dataclass(frozen=True)
class BasicAuth(AuthLayer):
    """`Authorization: Basic base64(user:pass)`, checked by `verify(username, password)`.

    `verify` (sync or async) returns an `Identity`, or a str (the subject of an identity with
    scheme `"basic"`), or None / False for wrong credentials (401 `bad_credentials`). It
    should compare secrets in constant time (a password hasher does); a slow sync hash
    blocks the event loop, so make a slow `verify` async (e.g. `asyncio.to_thread`).

    A header that is not base64 of `user:pass` in UTF-8 is answered 401 `malformed`; a
    request without Basic credentials is anonymous when `optional`, else 401 with the
    challenge `Basic realm="<realm>", charset="UTF-8"`.
    """

    kind = "basic"
    challenge_kind = "basic"  # what Rust's 401 for a missing credential says (rust/auth)
    verify: Callable[[str, str], Any]
    realm: str = ""
    optional: bool = False
    scheme_name: str = "basicAuth"

    def __post_init__(self) -> None:
        if not callable(self.verify):
            raise ConfigError("BasicAuth verify: expected a function verify(username, password)")

    @property
    def in_python(self) -> bool:
        return True

    def spec(self) -> dict[str, Any]:
        # Verified in Python: Rust only answers a missing credential with this challenge.
        return {"kind": "python", "optional": self.optional, "challenge": self.challenge_kind}

    def describe(self) -> str:
        return f"[python] BasicAuth(realm={self.realm!r}, optional={self.optional})"

    def credential(self, request: Request) -> str | None:
        """The base64 part of `Authorization: Basic ...`; None when the request has no Basic
        credentials (the scheme name is case-insensitive, RFC 9110 §11.1)."""
        value = request.header("authorization")
        if value is None:
            return None
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        return rest.strip()

    def decode(self, credential: str) -> tuple[str, str]:
        """(username, password) from the base64 part; AuthFailed `malformed` when it is not
        base64 of UTF-8 `user:pass`."""
        if not credential or len(credential) > _MAX_CREDENTIAL:
            raise self._failed("malformed", "malformed Basic credentials")
        try:
            text = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise self._failed(
                "malformed", "malformed Basic credentials: not base64 of UTF-8 user:password"
            ) from None
        username, colon, password = text.partition(":")
        if not colon or _has_control(text):
            raise self._failed("malformed", "malformed Basic credentials: expected user:password")
        return username, password

    async def authenticate(self, request: Request, credential: Any) -> Identity:
        """The identity `verify` gives for the credentials; raises AuthFailed."""
        username, password = self.decode(str(credential))
        result = self.verify(username, password)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Identity):
            return result
        if isinstance(result, str) and result:
            return Identity("basic", result)
        if result is None or result is False or result == "":
            raise self._failed("bad_credentials", "invalid user name or password")
        if result is True:
            return Identity("basic", username)
        raise TypeError(
            f"BasicAuth verify must return an Identity, a str, or None, not {type(result).__name__}"
        )

    def challenge(self) -> str:
        """The `WWW-Authenticate` value of a 401."""
        return basic_challenge(self.realm)

    def openapi_scheme(self) -> dict[str, Any]:
        """The OpenAPI `securitySchemes` entry."""
        return {"type": "http", "scheme": "basic"}

    def _failed(self, reason: str, description: str) -> AuthFailed:
        return AuthFailed(reason, description, self.challenge())
