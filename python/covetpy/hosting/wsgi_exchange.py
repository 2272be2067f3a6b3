"""One WSGI call on a worker thread: `start_response`, `write`, and turning what the app
returns into exactly one `responder.send` (or `responder.fail`).

A body whose length the app announced (Content-Length up to `BUFFER_LIMIT`) and that comes
in full is sent as one plain `Response` straight from the worker thread: Flask and Django
answer this way, and it costs no trip through the event loop. Anything else (no length, a
large one, `write()`) is streamed through a `ChunkPipe`; from then on the headers count as
sent (PEP 3333 §"Buffering and Streaming").
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, cast

from covetpy._core import Responder
from covetpy.exceptions import CovetError
from covetpy.hosting.wsgi_stream import ChunkPipe, FileWrapper
from covetpy.responses import Response

__all__ = ["BUFFER_LIMIT", "Exchange", "WSGIProtocolError"]

logger = logging.getLogger("covetpy")

# A body announced up to this size is gathered and sent whole (with its Content-Length);
# a larger one is streamed so that a big download does not sit in memory.
BUFFER_LIMIT = 1 << 20
# FileWrapper blocks read at least this much at a time (8 KiB reads cost 8x the calls).
FILE_BLOCK = 64 * 1024

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_new = object.__new__
_STATUS = re.compile(r"[1-9][0-9]{2} [^\r\n]*\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Header names seen valid, by name as the app wrote it -> lower-cased: the check is a
# regex match, and an app writes the same few names on every response.
_names: dict[str, str] = {}
_NAMES_MAX = 1024


class WSGIProtocolError(CovetError, AssertionError):
    """A WSGI app broke a rule of PEP 3333 (a second `start_response` without `exc_info`, a
    bad status or header, a body that is not bytes). An `AssertionError` as well, as
    `wsgiref.validate` raises."""


def _header_name(name: object) -> str:
    if type(name) is not str or not _TOKEN.match(name):
        raise WSGIProtocolError(f"invalid response header name {name!r}")
    low = name.lower()
    if len(_names) < _NAMES_MAX:
        _names[name] = low
    return low


def _check_value(name: str, value: object) -> bytes | None:
    """None for a plain ASCII value (the usual case); else the value's bytes, as the server
    must send them: PEP 3333 header values are latin-1 "bytes as str", and Rust takes
    `(str, bytes)` pairs as they are (a `str` it would write as UTF-8)."""
    if type(value) is not str:
        raise WSGIProtocolError(f"response header {name!r} has a non-str value {value!r}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise WSGIProtocolError(f"response header {name!r} has a line break in its value")
    if value.isascii():
        return None
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        raise WSGIProtocolError(
            f"response header {name!r} is not latin-1 (PEP 3333 'bytes as str')"
        ) from None


class Exchange:
    """The state of one WSGI request: what `start_response` set, and the stream once the
    headers have been sent."""

    __slots__ = ("declared", "headers", "job", "length", "loop", "pipe", "responder", "status")

    def __init__(self, responder: Responder, loop: asyncio.AbstractEventLoop, job: int) -> None:
        self.responder = responder
        self.loop = loop
        self.job = job
        self.status = 0
        # Values are str, or bytes for a non-ASCII one (`_check_value`).
        self.headers: list[tuple[str, Any]] = []
        # Content-Length the app announced, when small enough to gather the body; else None.
        self.length: int | None = None
        # Content-Length the app announced, whatever its size (a file sent with sendfile).
        self.declared: int | None = None
        self.pipe: ChunkPipe | None = None

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333 `start_response`: returns the legacy `write` callable."""
        if exc_info is not None:
            try:
                if self.pipe is not None:
                    # Too late to change the answer: PEP 3333 wants the app's error back.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status:
            raise WSGIProtocolError("start_response called a second time without exc_info")
        if type(status) is not str or not _STATUS.match(status):
            raise WSGIProtocolError(f'status must be "NNN reason", got {status!r}')
        if type(headers) is not list:
            raise WSGIProtocolError(f"headers must be a list, got {type(headers).__name__}")
        length = None
        sent: list[tuple[str, Any]] = list(headers)
        for i, item in enumerate(sent):
            if type(item) is not tuple or len(item) != 2:
                raise WSGIProtocolError(f"a header must be a (name, value) tuple: {item!r}")
            name, value = item
            low = _names.get(name) if type(name) is str else None
            if low is None:
                low = _header_name(name)
            # Printable ASCII (no CR, LF, NUL, nor any other control) needs no closer look.
            if type(value) is not str or not (value.isascii() and value.isprintable()):
                recoded = _check_value(name, value)
                if recoded is not None:
                    sent[i] = (name, recoded)
            if low == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise WSGIProtocolError(f"bad Content-Length {value!r}") from None
        self.status = int(status[:3])
        self.headers = sent
        self.declared = length
        self.length = length if length is not None and 0 <= length <= BUFFER_LIMIT else None
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy `write` callable: sends `data` now, streaming the response."""
        if type(data) is not bytes:
            raise WSGIProtocolError(f"write() takes bytes, not {type(data).__name__}")
        if not self.status:
            raise WSGIProtocolError("write() called before start_response")
        pipe = self.pipe if self.pipe is not None else self._start_stream()
        if data and not pipe.put(data):
            raise ConnectionResetError("the client went away")

    def _response(self, body: bytes, iterator: Any = None) -> Response:
        if not self.status:
            raise WSGIProtocolError("the app returned a body without calling start_response")
        # Built directly (as `to_response` does): `Response.__init__` would re-check and copy
        # the headers just validated.
        r: Response = _new(Response)
        r.status_code = self.status
        r.body = body
        r.body_iterator = iterator
        # Rust takes (str, bytes) pairs too (`Response.raw_headers` is typed for apps).
        r.raw_headers = cast("list[tuple[str, str]]", self.headers)
        return r

    def _start_stream(self) -> ChunkPipe:
        pipe = ChunkPipe(self.loop, self.job)
        response = self._response(b"", pipe.chunks())  # raises if start_response was not called
        self.loop.call_soon_threadsafe(self._send_stream, response, pipe)
        # Only now do the headers count as sent: a failure before this still gets a 500.
        self.pipe = pipe
        return pipe

    def _send_stream(self, response: Response, pipe: ChunkPipe) -> None:
        # On the loop thread: Rust starts the pump Task inside `send`.
        try:
            self.responder.send(response)
        except BaseException:
            pipe.cancel()
            raise

    def _stream(self, chunks: Iterable[bytes], rest: Iterator[bytes]) -> None:
        pipe = self.pipe if self.pipe is not None else self._start_stream()
        for chunk in chunks:
            if not pipe.put(chunk):
                return
        for chunk in rest:
            if type(chunk) is not bytes:
                raise WSGIProtocolError(f"body chunks must be bytes, not {type(chunk)}")
            if chunk and not pipe.put(chunk):
                return
        pipe.end()

    def respond(self, result: Iterable[bytes]) -> None:
        """Sends what the app returned: whole when it is complete, else streamed."""
        if self.pipe is None and type(result) in (list, tuple):
            self.responder.send(self._response(b"".join(result)))
            return
        if type(result) is FileWrapper and self.pipe is None and self._send_file(result):
            return
        if type(result) is FileWrapper:
            blksize = max(result.blksize, FILE_BLOCK)
            read = result.filelike.read
            it: Iterator[bytes] = iter(lambda: read(blksize), b"")
        else:
            it = iter(result)
        gathered: list[bytes] = []
        if self.pipe is None:
            total = 0
            for chunk in it:
                if type(chunk) is not bytes:
                    raise WSGIProtocolError(f"body chunks must be bytes, not {type(chunk)}")
                if not chunk:
                    continue
                gathered.append(chunk)
                total += len(chunk)
                # Read after the first chunk: a generator may call start_response only then.
                length = self.length
                if length is None or total > length:
                    break
            else:
                self.responder.send(self._response(b"".join(gathered)))
                return
        self._stream(gathered, it)

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """A `wsgi.file_wrapper` around a regular file is sent by the server from the file
        itself (sendfile(2) under epoll), from where the file stands, for the Content-Length
        the app announced or to the end: False when it is not such a file."""
        try:
            fd = wrapper.filelike.fileno()
            st = os.fstat(fd)
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError, ValueError):
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        size = max(st.st_size - offset, 0)
        length = size if self.declared is None else min(self.declared, size)
        response = self._response(b"", ())
        # Rust duplicates the descriptor while it converts: the app's close() may follow.
        response.sendfile = (fd, offset, length)
        self.responder.send(response)
        return True

    def status_code(self) -> int:
        """The status the client was answered with (for the request's span): the app's, or
        500 when it failed before `start_response`."""
        return self.status or 500

    def failed(self, exc: BaseException) -> None:
        """The app raised: a 500 while nothing was sent, else the connection is cut."""
        if self.pipe is None:
            self.responder.fail(exc)
        elif self.pipe.gone and isinstance(exc, ConnectionResetError):
            logger.debug("WSGI client went away during a streamed response")
        else:
            self.pipe.end(exc)
