"""Response classes. Returning a plain value is the fast path:

- `str` -> 200 `text/plain; charset=utf-8`
- `bytes` -> 200 `application/octet-stream`
- `dict` / `list` (and anything msgspec encodes) -> 200 `application/json`
- `None` -> 204
- a `Response` for anything else (status, headers, media type, streaming).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any, ClassVar

import msgspec

__all__ = [
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "Response",
    "StreamingResponse",
]

_encode_json = msgspec.json.Encoder().encode


class Response:
    """A complete response: `body` (bytes or str), `status_code`, `headers`, `media_type`.

    The server writes `date`, `content-length` and `connection` itself; values given for
    those (and `transfer-encoding`) are ignored.
    """

    media_type: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"

    status_code: int
    body: bytes
    raw_headers: list[tuple[str, str]]
    body_iterator: Iterable[bytes | str] | AsyncIterable[bytes | str] | None

    def __init__(
        self,
        body: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = self.render(body)
        self.body_iterator = None
        self.raw_headers = [(k.lower(), v) for k, v in headers.items()] if headers else []
        media_type = media_type if media_type is not None else self.media_type
        if media_type is not None and not any(k == "content-type" for k, _ in self.raw_headers):
            if media_type.startswith("text/") and "charset=" not in media_type:
                media_type += f"; charset={self.charset}"
            self.raw_headers.append(("content-type", media_type))

    def render(self, body: Any) -> bytes:
        """Turns the body given to the constructor into bytes."""
        if body is None:
            return b""
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode(self.charset)
        if isinstance(body, bytearray | memoryview):
            return bytes(body)
        raise TypeError(
            f"{type(self).__name__} body must be bytes or str, not {type(body).__name__}"
        )

    @property
    def headers(self) -> dict[str, str]:
        """The headers as a dict (last value wins); `raw_headers` keeps duplicates."""
        return dict(self.raw_headers)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class PlainTextResponse(Response):
    """`text/plain; charset=utf-8`."""

    media_type = "text/plain"


class HTMLResponse(Response):
    """`text/html; charset=utf-8`."""

    media_type = "text/html"


class JSONResponse(Response):
    """Any value msgspec can encode, as `application/json`."""

    media_type = "application/json"

    def render(self, body: Any) -> bytes:
        return _encode_json(body)


class StreamingResponse(Response):
    """A body produced over time by a sync or async iterable of bytes or str, sent with
    chunked transfer coding. The producer waits while the client is slow (backpressure)."""

    def __init__(
        self,
        content: Iterable[bytes | str] | AsyncIterable[bytes | str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, media_type)
        self.body_iterator = content
