"""`wsgi.input`: the request body as a file a WSGI worker thread reads (PEP 3333 §"Input and
Error Streams").

The body is pulled from Rust piece by piece with `request.read_chunk_blocking()` (which
releases the GIL while it waits), so a 64 MiB upload read with `read(65536)` in a loop holds
one chunk at a time, never the whole body. Rust frames the body (Content-Length or chunked)
and answers b"" at its end, so reading never goes past CONTENT_LENGTH; the environ carries
`wsgi.input_terminated` so that frameworks (Werkzeug) also read chunked bodies to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["BodySource", "WSGIInput"]


class BodySource(Protocol):
    """What `WSGIInput` reads from: `covetpy._core.Request` in the server."""

    def read_chunk_blocking(self) -> bytes: ...


class WSGIInput:
    """A read-only binary file over the request body: `read`, `readline`, `readlines` and
    iteration by line. `ConnectionResetError` from Rust (client gone, body cut by a limit or
    timeout) propagates to the app, as a socket error would under other servers."""

    __slots__ = ("_buf", "_eof", "_pos", "_source")

    def __init__(self, source: BodySource) -> None:
        self._source = source
        # Unread bytes are `_buf[_pos:]`: an offset instead of slicing the rest off, so that
        # many small reads from one 64 KiB chunk copy each byte once.
        self._buf = b""
        self._pos = 0
        self._eof = False

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been read from Rust."""
        return self._eof

    def _fill(self) -> bool:
        """Appends the next chunk to the buffer; False at the end of the body."""
        if self._eof:
            return False
        chunk = self._source.read_chunk_blocking()
        if not chunk:
            self._eof = True
            return False
        rest = len(self._buf) - self._pos
        self._buf = self._buf[self._pos :] + chunk if rest else chunk
        self._pos = 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left when `size` is None or negative); b"" at
        the end. Waits only until `size` bytes or the end are there."""
        if size is None or size < 0:
            parts = [self._buf[self._pos :]]
            self._buf, self._pos = b"", 0
            while not self._eof:
                chunk = self._source.read_chunk_blocking()
                if chunk:
                    parts.append(chunk)
                else:
                    self._eof = True
            return b"".join(parts)
        while len(self._buf) - self._pos < size and self._fill():
            pass
        start = self._pos
        end = min(start + size, len(self._buf))
        self._pos = end
        return self._buf[start:end]

    def readline(self, size: int | None = -1) -> bytes:
        """One line with its b"\\n" (the last may lack it), at most `size` bytes."""
        limit = size if size is not None and size >= 0 else None
        scanned = self._pos
        while True:
            nl = self._buf.find(b"\n", scanned)
            if nl >= 0:
                end = nl + 1
                break
            if limit is not None and len(self._buf) - self._pos >= limit:
                end = len(self._buf)
                break
            scanned = len(self._buf)
            offset = self._pos
            if not self._fill():
                end = len(self._buf)
                break
            # `_fill` moved the unread bytes to the front of the buffer.
            scanned -= offset
        start = self._pos
        if limit is not None:
            end = min(end, start + limit)
        self._pos = end
        return self._buf[start:end]

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Lines until the end, or until their total length reaches `hint` when positive."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        """Nothing to release: the server finishes the body after the app returns."""
