"""The PEP 3333 `environ` of a request, built from `covetpy._core.Request` on a worker thread.

Strings are "bytes as str" (latin-1): Rust gives header values that way already. The path
and query are taken from `request.path` / `request.query_string` when they are plain ASCII
(the usual case, no copy); otherwise the raw bytes of `request.asgi_scope` are decoded
afresh, so a path with %FF or UTF-8 reaches the app as PEP 3333 wants it.
"""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any, Protocol

from covetpy.hosting.wsgi_input import WSGIInput
from covetpy.hosting.wsgi_stream import FileWrapper

__all__ = ["EnvironBuilder", "WSGIRequest"]


class WSGIRequest(Protocol):
    """The parts of `covetpy._core.Request` the environ is built from."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def client(self) -> tuple[str, int] | None: ...
    @property
    def scheme(self) -> str: ...
    @property
    def headers(self) -> Any: ...
    def asgi_scope(self, template: dict[str, Any]) -> dict[str, Any]: ...
    def read_chunk_blocking(self) -> bytes: ...


_PROTOCOL = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_DEFAULT_PORT = {"http": "80", "https": "443"}
# Header name as received -> environ key, or "" for one that is dropped. Clients send the same
# few names again and again; bounded so that made-up names cannot grow it without end.
_KEYS_MAX = 2048


def _latin1(text: str) -> str:
    """A str decoded from UTF-8 as PEP 3333 "bytes as str"."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


class EnvironBuilder:
    """Builds environs for one mount: the constant keys once, the rest per request."""

    def __init__(
        self,
        root_path: str,
        multiprocess: bool,
        server: tuple[str, int] | None = None,
        errors: Any = None,
    ) -> None:
        self.root_path = _latin1(root_path)
        self.server = server
        self.base: dict[str, Any] = {
            "SCRIPT_NAME": self.root_path,
            "SERVER_SOFTWARE": "covetpy",
            "wsgi.version": (1, 0),
            "wsgi.errors": errors if errors is not None else sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            # Our wsgi.input ends where the body ends (chunked ones too): Werkzeug then reads
            # a body without Content-Length instead of taking it as empty.
            "wsgi.input_terminated": True,
        }
        self._keys: dict[str, str] = {
            "content-type": "CONTENT_TYPE",
            "content-length": "CONTENT_LENGTH",
        }

    def _key(self, name: str) -> str:
        # A name with "_" would reach the app as the same key as its "-" twin: a client could
        # forge X-Forwarded-For as X_Forwarded_For past a proxy that strips the real one
        # (gunicorn and uvicorn drop such headers too).
        key = "" if "_" in name else "HTTP_" + name.upper().replace("-", "_")
        if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            key = key[5:]
        if len(self._keys) < _KEYS_MAX:
            self._keys[name] = key
        return key

    def build(self, request: WSGIRequest) -> dict[str, Any]:
        """The environ of `request`; `wsgi.input` reads its body."""
        env = self.base.copy()
        env["REQUEST_METHOD"] = request.method
        scope = None
        path = request.path
        if not path.isascii() or "%" in path:
            # `path` is decoded as UTF-8 (or left raw when it is not UTF-8): decode the bytes
            # themselves instead, to latin-1.
            scope = request.asgi_scope({})
            path = urllib.parse.unquote_to_bytes(scope["raw_path"]).decode("latin-1")
        root = self.root_path
        if root and path.startswith(root):
            path = path[len(root) :]
        env["PATH_INFO"] = path
        query = request.query_string
        if not query.isascii():
            if scope is None:
                scope = request.asgi_scope({})
            query = scope["query_string"].decode("latin-1")
        env["QUERY_STRING"] = query
        env["SERVER_PROTOCOL"] = _PROTOCOL.get(request.http_version, "HTTP/1.1")
        scheme = request.scheme
        env["wsgi.url_scheme"] = scheme
        keys = self._keys
        for name, value in request.headers.items():
            key = keys.get(name)
            if key is None:
                key = self._key(name)
            if not key:
                continue
            if key in env:
                # Repeated fields join with "," (RFC 9110 §5.3); Cookie with "; " (RFC 6265
                # §5.4), as it is one list split over lines.
                sep = "; " if key == "HTTP_COOKIE" else ","
                env[key] = env[key] + sep + value
            else:
                env[key] = value
        client = request.client
        if client is not None:
            env["REMOTE_ADDR"] = client[0]
            env["REMOTE_PORT"] = str(client[1])
        host = env.get("HTTP_HOST")
        if host is not None:
            name, port = _split_host(host, scheme)
        elif self.server is not None:
            name, port = self.server[0], str(self.server[1])
        else:
            name, port = "localhost", _DEFAULT_PORT.get(scheme, "80")
        env["SERVER_NAME"] = name
        env["SERVER_PORT"] = port
        env["wsgi.input"] = WSGIInput(request)
        return env


def _split_host(host: str, scheme: str) -> tuple[str, str]:
    """("example.com", "8080") from "example.com:8080"; IPv6 literals keep their brackets;
    the scheme's port when none is given."""
    head, colon, port = host.rpartition(":")
    if colon and port.isdigit() and (not head.startswith("[") or head.endswith("]")):
        return head, port
    return host, _DEFAULT_PORT.get(scheme, "80")
