"""Cookie sessions: `request.state.session`, `login(request, user)`, `logout(request)`.

```python
app = App(middleware=[Sessions(secret_keys=[os.environ["SESSION_KEY"]], store="redis://...")])

@app.post("/login")
async def sign_in(request: Request, form: Annotated[Login, Form()]) -> Response:
    user = await users.check(form.name, form.password)
    login(request, user.name, roles=user.roles)       # a new session id: no fixation
    return RedirectResponse("/", 303)

@app.get("/cart")
async def cart(request: Request) -> list[str]:
    return request.state.session.get("cart", [])
```

The cookie is signed (HMAC-SHA256, RFC 2104) with the first of `secret_keys` and verified
with each of them, so a key is rotated by putting the new one first and dropping the old one
once `max_age` has passed. A forged, tampered or expired cookie gives a fresh empty session.

- Without a store, the session's data is in the cookie itself (signed, not encrypted: the
  client can read it; at most about 4 KB). Such a session cannot be revoked before it
  expires: `logout` makes this client forget it, but a copy of the cookie taken earlier stays
  valid until `max_age` has passed. Use a store where that matters.
- With a store (`"memory"`, `"redis://..."`, or an object: `covetpy.auth.session_stores`),
  the cookie carries only a signed random id. `logout` (or `session.clear()`) deletes the
  session server-side: a replayed cookie then finds nothing.

A response sets the cookie only when the session changed (`session.modified`; a change
inside a value, `session["cart"].append(x)`, is not seen: set `session.modified = True`).
An unchanged session keeps its cookie and expires `max_age` after it was last saved. Two
concurrent requests that both change one session: the last one saved wins.

With `csrf=True` (the default), unsafe requests that carry the session cookie are checked
for cross-site forgery first: `covetpy.auth.csrf`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from covetpy.auth.csrf import UNSAFE_METHODS, check_csrf, trusted
from covetpy.auth.errors import bearer_challenge
from covetpy.auth.identity import Identity
from covetpy.auth.layers import AuthLayer
from covetpy.auth.session_stores import SessionStore, store_from
from covetpy.exceptions import ConfigError
from covetpy.middleware.pipeline import CallNext
from covetpy.requests import Request
from covetpy.responses import Response

__all__ = ["Session", "SessionLayer", "SessionSigner", "Sessions", "login", "logout", "session_of"]

logger = logging.getLogger("covetpy.auth")

# RFC 6265 §4.1.1: a cookie name is an RFC 2616 token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Browsers keep cookies up to 4096 bytes, name and attributes included (RFC 6265 §6.1).
_MAX_COOKIE = 4000
# A cookie issued this far in the future (clock steps back) is still accepted.
_SKEW = 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs a cookie value as `body.issued.mac`: `body` the base64url payload, `issued` the
    Unix time, `mac` HMAC-SHA256 over the cookie's name, body and time (a value signed for
    one cookie does not verify as another)."""

    def __init__(self, keys: Sequence[bytes], name: str) -> None:
        self.keys = tuple(keys)
        self._context = b"covetpy.session\x00" + name.encode() + b"\x00"

    def _mac(self, key: bytes, signed: str) -> str:
        return _b64(hmac.new(key, self._context + signed.encode(), hashlib.sha256).digest())

    def sign(self, payload: bytes, issued: int | None = None) -> str:
        """The cookie value for `payload`, issued now (or at `issued`)."""
        signed = f"{_b64(payload)}.{int(time.time()) if issued is None else issued}"
        return f"{signed}.{self._mac(self.keys[0], signed)}"

    def unsign(self, value: str, max_age: int) -> tuple[bytes | None, str]:
        """(payload, "ok"), or (None, why: "malformed", "bad_signature", "expired")."""
        body, _, rest = value.partition(".")
        issued_text, _, mac = rest.partition(".")
        if not (body and issued_text.isdigit() and mac) or len(issued_text) > 12:
            return None, "malformed"
        signed = f"{body}.{issued_text}"
        # Every key is tried: the first signs, the others are being rotated out.
        if not any(
            hmac.compare_digest(mac.encode(), self._mac(key, signed).encode()) for key in self.keys
        ):
            return None, "bad_signature"
        age = int(time.time()) - int(issued_text)
        if age > max_age or age < -_SKEW:
            return None, "expired"
        try:
            return _unb64(body), "ok"
        except (binascii.Error, ValueError):
            return None, "malformed"


class Session(MutableMapping[str, Any]):
    """`request.state.session`: a dict of JSON-encodable values, plus the logged-in
    identity (`login`) and the CSRF token (`csrf_token`). `modified` says whether it is
    saved at the end of the request."""

    __slots__ = ("_auth", "_data", "_stale", "csrf", "id", "modified")

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        auth: dict[str, Any] | None = None,
        csrf: str | None = None,
        id: str | None = None,
    ) -> None:
        self._data: dict[str, Any] = data or {}
        self._auth = auth
        self.csrf = csrf
        self.id = id  # the store's session id; None: not saved yet (or no store)
        self.modified = False
        self._stale: list[str] = []  # ids to delete from the store when saving

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        # Keys only: values may be personal data, and reprs end up in logs.
        return f"Session(keys={sorted(self._data)!r}, identity={self.identity!r})"

    @property
    def identity(self) -> Identity | None:
        """Who logged in with this session (`login`), as `Identity(scheme="session", ...)`."""
        auth = self._auth
        if auth is None:
            return None
        return Identity("session", auth["s"], scopes=auth.get("sc", ()), roles=auth.get("r", ()))

    @property
    def empty(self) -> bool:
        """Nothing to keep: no data, no identity, no CSRF token."""
        return not self._data and self._auth is None and self.csrf is None

    def regenerate(self) -> None:
        """A new session id for the same data (the old one is deleted from the store):
        `login` does this so that an id planted before login is worthless (fixation)."""
        if self.id is not None:
            self._stale.append(self.id)
        self.id = None
        self.modified = True

    def clear(self) -> None:
        """Empties the session, identity and CSRF token included; with a store, deletes it
        server-side, so a copy of the cookie finds nothing."""
        self._data = {}
        self._auth = None
        self.csrf = None
        self.regenerate()

    def encode(self) -> bytes:
        """The session as stored (JSON)."""
        document: dict[str, Any] = {"d": self._data}
        if self._auth is not None:
            document["a"] = self._auth
        if self.csrf is not None:
            document["c"] = self.csrf
        return msgspec.json.encode(document)

    @classmethod
    def decode(cls, data: bytes, id: str | None = None) -> Session | None:
        """A session from `encode`'s output; None when it is not one."""
        try:
            document = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return None
        if not isinstance(document, dict) or not isinstance(document.get("d"), dict):
            return None
        auth, csrf = document.get("a"), document.get("c")
        if auth is not None and not (isinstance(auth, dict) and isinstance(auth.get("s"), str)):
            return None
        return cls(document["d"], auth=auth, csrf=csrf if isinstance(csrf, str) else None, id=id)


@dataclass(frozen=True)
class SessionLayer(AuthLayer):
    """What the authentication gate sees of `Sessions` (`Sessions.auth_layer`, registered by
    `App.add_middleware`): the gate loads the session before the route's requirements are
    checked (the middleware then uses the session the gate loaded), so a logged-in user passes
    `requires(...)`; it also describes the cookie in OpenAPI. Always optional: an anonymous
    request is refused only by routes that `requires(...)`."""

    kind = "session"
    challenge_kind = "bearer"  # no standard challenge names a cookie (RFC 9110 §11.6.1)
    cookie: str = "session"
    optional: bool = True
    scheme_name: str = "sessionCookie"
    owner: Any = field(default=None, compare=False, repr=False)
    """The `Sessions` middleware this layer loads sessions with."""

    @property
    def in_python(self) -> bool:
        return True

    def spec(self) -> dict[str, Any]:
        return {"kind": "python", "optional": True, "challenge": self.challenge_kind}

    def describe(self) -> str:
        return f"[python] Sessions(cookie={self.cookie!r})"

    def credential(self, request: Request) -> str | None:
        """The session cookie's value, if the request has one."""
        owner: Sessions | None = self.owner
        return None if owner is None else owner._read_cookie(request)

    async def authenticate(self, request: Request, credential: Any) -> Identity | None:
        """The session's identity (None: not logged in, or a cookie that does not verify);
        the session is kept for the middleware."""
        owner: Sessions | None = self.owner
        if owner is None:
            return None
        session = await owner._load(str(credential), request)
        request.state.session = session
        request.state.session_cookie = credential
        return session.identity

    def challenge(self) -> str:
        """The `WWW-Authenticate` value of a 401 (a cookie has no scheme of its own)."""
        return bearer_challenge()

    def openapi_scheme(self) -> dict[str, Any]:
        """The OpenAPI `securitySchemes` entry: an API key in a cookie."""
        return {"type": "apiKey", "in": "cookie", "name": self.cookie}


def _keys(secret_keys: Sequence[str | bytes] | str | bytes) -> list[bytes]:
    if isinstance(secret_keys, str | bytes):
        secret_keys = [secret_keys]
    keys = [k.encode() if isinstance(k, str) else bytes(k) for k in secret_keys]
    if not keys:
        raise ConfigError("Sessions secret_keys: needs at least one key")
    for i, key in enumerate(keys):
        if len(key) < 32:
            raise ConfigError(
                f"Sessions secret_keys[{i}]: {len(key)} bytes; use at least 32 random bytes "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    return keys


def _store_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """The session middleware (`App(middleware=[Sessions(...)])`, after the auth layers).

    `secret_keys`: newest first (signs); the others still verify. `store`: None (the data
    in the cookie), `"memory"`, `"redis://..."` or a store object. The cookie: `cookie`
    name, `max_age` seconds, `same_site`, `secure`, `http_only`, `path`, `domain`.
    `csrf`/`trusted_origins`: see `covetpy.auth.csrf`.
    """

    def __init__(
        self,
        secret_keys: Sequence[str | bytes] | str | bytes,
        *,
        cookie: str = "session",
        max_age: int = 14 * 24 * 3600,
        same_site: Literal["lax", "strict", "none"] = "lax",
        secure: bool = True,
        http_only: bool = True,
        path: str = "/",
        domain: str | None = None,
        store: str | SessionStore | None = None,
        csrf: bool = True,
        trusted_origins: Iterable[str] = (),
    ) -> None:
        if not _TOKEN.match(cookie):
            raise ConfigError(f"Sessions cookie: {cookie!r} is not a valid cookie name")
        if max_age < 1:
            raise ConfigError(f"Sessions max_age must be >= 1 second, got {max_age}")
        if same_site not in ("lax", "strict", "none"):
            raise ConfigError(f"Sessions same_site: 'lax', 'strict' or 'none', not {same_site!r}")
        if (same_site == "none" or cookie.startswith(("__Secure-", "__Host-"))) and not secure:
            raise ConfigError(
                f"Sessions: browsers refuse this cookie without Secure "
                f"(same_site={same_site!r}, cookie={cookie!r}); set secure=True"
            )
        if cookie.startswith("__Host-") and (path != "/" or domain is not None):
            raise ConfigError("Sessions: a __Host- cookie needs path='/' and no domain")
        self.signer = SessionSigner(_keys(secret_keys), cookie)
        self.cookie = cookie
        self.max_age = max_age
        self.same_site: Literal["lax", "strict", "none"] = same_site
        self.secure = secure
        self.http_only = http_only
        self.path = path
        self.domain = domain
        self.store = store_from(store)
        self.csrf = csrf
        self.trusted_origins = trusted(trusted_origins)

    @property
    def auth_layer(self) -> SessionLayer:
        """The layer the app's authentication gate runs for this middleware."""
        return SessionLayer(cookie=self.cookie, owner=self)

    async def aclose(self) -> None:
        """Closes the store's connections in this worker (Redis): `app.on_shutdown(
        sessions.aclose)`, so the event loop closes without open sockets."""
        close = getattr(self.store, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        store = "cookie" if self.store is None else type(self.store).__name__
        return f"Sessions(cookie={self.cookie!r}, store={store}, csrf={self.csrf})"

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        raw = self._read_cookie(request)
        loaded = getattr(request.state, "session", None)
        if isinstance(loaded, Session) and getattr(request.state, "session_cookie", None) == raw:
            session = loaded  # the auth gate loaded it already
        else:
            session = Session() if raw is None else await self._load(raw, request)
        if self.csrf and raw is not None and request.method in UNSAFE_METHODS:
            check_csrf(request, session, self.trusted_origins)
        request.state.session = session
        identity = session.identity
        if identity is not None and request.auth is None:
            request.auth = identity
        response: Response = await call_next(request)
        await self._save(session, raw is not None, response)
        return response

    def _read_cookie(self, request: Request) -> str | None:
        # RFC 6265 §5.4: `name=value` pairs separated by `; `; the first of a name wins.
        for header in request.headers.getlist("cookie"):
            for pair in header.split(";"):
                name, eq, value = pair.strip().partition("=")
                if eq and name == self.cookie:
                    return value.strip()
        return None

    async def _load(self, raw: str, request: Request) -> Session:
        fresh = Session()
        fresh.modified = True  # an invalid cookie is expired unless the handler saves one
        if len(raw) > _MAX_COOKIE:
            self._rejected("oversized", request)
            return fresh
        payload, why = self.signer.unsign(raw, self.max_age)
        if payload is None:
            self._rejected(why, request)
            return fresh
        if self.store is None:
            session = Session.decode(payload)
        else:
            session_id = payload.decode("utf-8", "replace")
            data = await self.store.load(_store_key(session_id))
            session = None if data is None else Session.decode(data, id=session_id)
            if data is None:
                why = "not_in_store"  # logged out, expired, or evicted
        if session is None:
            self._rejected(why if why != "ok" else "malformed", request)
            return fresh
        return session

    def _rejected(self, why: str, request: Request) -> None:
        # The cookie's value is a credential: never logged.
        logger.debug(
            "session cookie rejected: %s (path %s, request id %s)",
            why,
            request.path,
            request.request_id,
        )

    async def _save(self, session: Session, had_cookie: bool, response: Response) -> None:
        if not session.modified:
            return
        store = self.store
        if store is not None:
            for stale in session._stale:
                await store.delete(_store_key(stale))
            session._stale.clear()
        if session.empty:
            if had_cookie:
                self._set_cookie(response, "", 0)
            return
        payload = session.encode()
        if store is not None:
            if session.id is None:
                session.id = secrets.token_urlsafe(32)
            await store.save(_store_key(session.id), payload, self.max_age)
            payload = session.id.encode()
        value = self.signer.sign(payload)
        if len(value) > _MAX_COOKIE:
            raise ValueError(
                f"the session is {len(value)} bytes signed, too large for a cookie (about "
                "4 KB at most): keep less in it, or use a store (Sessions(store=...))"
            )
        self._set_cookie(response, value, self.max_age)

    def _set_cookie(self, response: Response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.cookie,
            value,
            max_age=max_age,
            path=self.path,
            domain=self.domain,
            secure=self.secure,
            httponly=self.http_only,
            samesite=self.same_site,
        )


def session_of(request: Request) -> Session:
    """The request's session; RuntimeError without the `Sessions` middleware."""
    session = getattr(request.state, "session", None)
    if not isinstance(session, Session):
        raise RuntimeError("no session on this request: add Sessions(...) to App(middleware=[...])")
    return session


def login(
    request: Request,
    identity_or_subject: Identity | str,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
) -> Identity:
    """Logs `identity_or_subject` in with the request's session (its subject, scopes and
    roles, plus `scopes` and `roles`), under a new session id (against fixation) and a new
    CSRF token; sets and returns `request.auth` (unless a token already set it)."""
    session = session_of(request)
    if isinstance(identity_or_subject, Identity):
        subject = identity_or_subject.subject
        scopes = {*identity_or_subject.scopes, *scopes}
        roles = {*identity_or_subject.roles, *roles}
    else:
        subject = identity_or_subject
    if not isinstance(subject, str) or not subject:
        raise ValueError("login: the identity needs a subject (a non-empty str)")
    for name, values in (("scopes", scopes), ("roles", roles)):
        if isinstance(values, str):
            raise TypeError(f"login({name}=...) takes a list of names, not one string")
    session.regenerate()
    session._auth = {"s": subject, "sc": sorted(scopes), "r": sorted(roles)}
    if session.csrf is not None:
        session.csrf = secrets.token_urlsafe(32)
    identity = session.identity
    assert identity is not None
    current = request.auth
    if current is None or current.scheme == "session":
        request.auth = identity
    return identity


def logout(request: Request) -> None:
    """Ends the request's session: cleared, deleted from the store (a replayed cookie finds
    nothing), the cookie expired; `request.auth` is reset if the session had set it."""
    session_of(request).clear()
    current = request.auth
    if current is not None and current.scheme == "session":
        request.auth = None
