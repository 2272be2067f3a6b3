"""The WSGI mount driven in-process with a stand-in for the Rust request and responder: the
environ, `wsgi.input`, `start_response`'s rules, buffering vs streaming, `close()`.

The servers' end-to-end behaviour is in test_wsgi_raw.py and the framework tests; these pin
the pieces where a failure is easiest to read.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from covetpy.hosting.wsgi import WSGIMount
from covetpy.hosting.wsgi_exchange import WSGIProtocolError
from covetpy.hosting.wsgi_input import WSGIInput
from covetpy.hosting.wsgi_stream import ChunkPipe, FileWrapper
from covetpy.responses import Response


class FakeHeaders:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class FakeRequest:
    """What the mount reads of `covetpy._core.Request`."""

    def __init__(
        self,
        method: str = "GET",
        raw_path: bytes = b"/",
        query: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        body: list[bytes] | None = None,
        client: tuple[str, int] | None = ("10.0.0.7", 5555),
        scheme: str = "http",
    ) -> None:
        from urllib.parse import unquote_to_bytes

        self.method = method
        self.raw_path = raw_path
        decoded = unquote_to_bytes(raw_path)
        try:
            self.path = decoded.decode()
        except UnicodeDecodeError:
            self.path = raw_path.decode("latin-1")
        self.query_bytes = query
        self.query_string = query.decode("utf-8", "replace")
        self.http_version = "1.1"
        self.headers = FakeHeaders([("host", "example.com:8080")] if headers is None else headers)
        self.client = client
        self.scheme = scheme
        self.job = 7
        self.chunks = list(body or [])
        self.reads = 0
        self.discarded = False

    def asgi_scope(self, template: dict[str, Any]) -> dict[str, Any]:
        return {**template, "raw_path": self.raw_path, "query_string": self.query_bytes}

    def read_chunk_blocking(self) -> bytes:
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""

    def discard_body(self) -> None:
        self.discarded = True


class FakeResponder:
    """Collects the one answer; drains a streamed body as the pump Task would."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read: int | None = None) -> None:
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.body = b""
        self.stream_error: BaseException | None = None
        self.streamed = False
        self.sent_on: str | None = None
        # Stop reading after this many chunks (a client that goes away).
        self.read = read

    def _set(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def send(self, value: Response) -> None:
        self.response = value
        self.sent_on = threading.current_thread().name
        if value.body_iterator is None:
            self.body = value.body
            self.loop.call_soon_threadsafe(self._set)
        else:
            self.streamed = True
            self.loop.create_task(self._pump(value.body_iterator))

    async def _pump(self, it: Any) -> None:
        n = 0
        try:
            async for chunk in it:
                self.body += chunk
                n += 1
                if self.read is not None and n >= self.read:
                    break
        except Exception as exc:
            self.stream_error = exc
        finally:
            await it.aclose()
            self._set()

    def fail(self, exc: BaseException) -> None:
        self.error = exc
        self.loop.call_soon_threadsafe(self._set)


App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serve(
    app: App,
    request: FakeRequest | None = None,
    root_path: str = "",
    read: int | None = None,
) -> FakeResponder:
    """One request through a fresh mount; returns when the answer (or its stream) is done."""
    mount = WSGIMount(app, root_path, threads=2)

    async def main() -> FakeResponder:
        responder = FakeResponder(asyncio.get_running_loop(), read)
        mount(request or FakeRequest(), responder)  # type: ignore[arg-type]
        await asyncio.wait_for(responder.done, 30)
        return responder

    try:
        return asyncio.run(main())
    finally:
        mount.close()


def capture(request: FakeRequest, root_path: str = "") -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.update(environ)
        seen["_body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b""]

    serve(app, request, root_path)
    return seen


def test_environ_has_the_pep_3333_keys() -> None:
    env = capture(
        FakeRequest(
            "POST",
            b"/api/items/7",
            b"a=1&b=2",
            [
                ("Host", "example.com:8080"),
                ("Content-Type", "application/json"),
                ("Content-Length", "2"),
                ("X-Many", "1"),
                ("x-many", "2"),
                ("Cookie", "a=1"),
                ("Cookie", "b=2"),
            ],
            [b"{}"],
            scheme="https",
        ),
        root_path="/api",
    )
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/api"
    assert env["PATH_INFO"] == "/items/7"
    assert env["QUERY_STRING"] == "a=1&b=2"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_MANY"] == "1,2"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("10.0.0.7", "5555")
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "https"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.run_once"] is False
    assert env["wsgi.file_wrapper"] is FileWrapper
    assert env["_body"] == b"{}"
    for key, value in env.items():
        if key.isupper():
            assert type(value) is str, key


def test_underscore_headers_are_dropped() -> None:
    env = capture(FakeRequest(headers=[("X-Forwarded-For", "1.2.3.4"), ("X_Forwarded_For", "6")]))
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def test_path_is_latin1_bytes_as_str() -> None:
    # "é" as UTF-8 (c3 a9) and a byte that is no UTF-8 (ff): each byte one character.
    env = capture(FakeRequest(raw_path=b"/caf%C3%A9/%FF/a%2Fb%25"))
    assert env["PATH_INFO"] == "/caf\xc3\xa9/\xff/a/b%"
    env = capture(FakeRequest(raw_path=b"/x", query=b"q=\xc3\xa9"))
    assert env["QUERY_STRING"] == "q=\xc3\xa9"


def test_root_mount_and_no_host() -> None:
    env = capture(FakeRequest(raw_path=b"/a", headers=[], client=None))
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
    assert "REMOTE_ADDR" not in env


def test_input_read_readline_iteration() -> None:
    body = WSGIInput(FakeRequest(body=[b"ab", b"c\nde", b"f\n", b"", b"tail"]))
    assert body.read(1) == b"a"
    assert body.readline() == b"bc\n"
    assert body.readline(2) == b"de"
    assert list(body) == [b"f\n"]
    assert body.read() == b""
    assert body.at_eof
    body = WSGIInput(FakeRequest(body=[b"l1\nl2\n", b"l3"]))
    assert body.readlines() == [b"l1\n", b"l2\n", b"l3"]
    body = WSGIInput(FakeRequest(body=[b"x" * 10, b"y" * 10]))
    assert body.read(15) == b"x" * 10 + b"y" * 5
    assert body.read() == b"y" * 5


def test_input_holds_one_chunk_at_a_time() -> None:
    req = FakeRequest(body=[b"z" * 65536 for _ in range(64)])
    body = WSGIInput(req)
    total = 0
    while chunk := body.read(65536):
        total += len(chunk)
        # The buffer never grows past one chunk: nothing is read ahead.
        assert req.reads <= total // 65536 + 1
    assert total == 64 * 65536


def test_a_list_body_is_sent_whole_from_the_worker_thread() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1")])
        return [b"hello ", b"world"]

    r = serve(app)
    assert r.response is not None and not r.streamed
    assert r.response.status_code == 201
    assert r.response.raw_headers == [("Content-Type", "text/plain"), ("X-A", "1")]
    assert r.body == b"hello world"
    assert r.sent_on is not None and r.sent_on.startswith("covetpy-wsgi-")


def test_a_generator_with_content_length_is_gathered() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "6")])
        yield b"abc"
        yield b""
        yield b"def"

    r = serve(app)
    assert not r.streamed and r.body == b"abcdef"


def test_a_generator_without_length_is_streamed() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [])
        for i in range(50):
            yield b"%d," % i

    r = serve(app)
    assert r.streamed and r.stream_error is None
    assert r.body == b"".join(b"%d," % i for i in range(50))


def test_close_is_called_when_the_client_leaves_a_stream() -> None:
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            while True:
                yield b"x" * 1000

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("200 OK", [])
        return Body()

    r = serve(app, read=3)
    assert r.body == b"x" * 3000
    assert closed.wait(10)


def test_exception_before_headers_fails_the_request() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("boom")

    r = serve(app)
    assert isinstance(r.error, RuntimeError) and r.response is None


def test_exception_while_streaming_reaches_the_pump() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"part"
        raise RuntimeError("mid-stream")

    r = serve(app)
    assert r.body == b"part"
    assert isinstance(r.stream_error, RuntimeError)


def test_start_response_rules() -> None:
    results: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        for name, status, headers in [
            ("no reason", "200", []),
            ("bytes", b"200 OK", []),
            ("crlf", "200 OK", [("X-A", "1\r\nX-B: 2")]),
            ("space in name", "200 OK", [("X A", "1")]),
            ("not latin-1", "200 OK", [("X-A", "\u2603")]),
            ("tuple of headers", "200 OK", (("X-A", "1"),)),
        ]:
            with pytest.raises(WSGIProtocolError):
                start_response(status, headers)
            results[name] = True
        start_response("200 OK", [("X-A", "caf\xe9")])
        try:
            start_response("200 OK", [])
        except AssertionError as exc:
            results["second"] = exc
        try:
            raise ValueError("x")
        except ValueError:
            start_response("500 Oops", [("X-B", "2")], sys.exc_info())
        return [b"replaced"]

    r = serve(app)
    assert isinstance(results["second"], WSGIProtocolError)
    assert r.response is not None and r.response.status_code == 500
    assert r.response.raw_headers == [("X-B", "2")]


def test_exc_info_after_headers_sent_is_reraised() -> None:
    seen: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"sent")
        try:
            raise ValueError("late")
        except ValueError:
            try:
                start_response("500 Oops", [], sys.exc_info())
            except ValueError as exc:
                seen.append(exc)
                raise
        return [b"never"]

    r = serve(app)
    assert r.body == b"sent" and isinstance(r.stream_error, ValueError)
    assert len(seen) == 1


def test_write_then_iterable() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"a")
        write(b"b")
        return [b"c"]

    r = serve(app)
    assert r.streamed and r.body == b"abc"


def test_missing_start_response_is_an_error() -> None:
    r = serve(lambda environ, start_response: [b"x"])
    assert isinstance(r.error, WSGIProtocolError)


def test_file_wrapper_is_read_in_large_blocks(tmp_path: Any) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: over the gathering limit, so streamed
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    reads: list[int] = []

    class Counting:
        def __init__(self) -> None:
            self.f = open(path, "rb")

        def read(self, n: int) -> bytes:
            reads.append(n)
            return self.f.read(n)

        def close(self) -> None:
            self.f.close()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(len(data)))])
        wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](Counting(), 4096)
        return wrapper

    r = serve(app)
    assert r.body == data and r.streamed
    assert min(reads) >= 65536


def test_unread_body_is_discarded() -> None:
    req = FakeRequest("POST", headers=[("Content-Length", "3")], body=[b"abc"])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    serve(app, req)
    assert req.discarded
    get = FakeRequest()
    serve(app, get)
    assert not get.discarded and get.reads == 0


def test_pipe_backpressure() -> None:
    async def main() -> None:
        pipe = ChunkPipe(asyncio.get_running_loop(), job=1, limit=2)
        put: list[bool] = []
        blocked = threading.Event()

        def producer() -> None:
            for i in range(5):
                if i == 2:
                    blocked.set()
                put.append(pipe.put(b"%d" % i))
            pipe.end()

        t = threading.Thread(target=producer)
        t.start()
        assert await asyncio.to_thread(blocked.wait, 10)
        got = [chunk async for chunk in pipe.chunks()]
        t.join(10)
        assert got == [b"0", b"1", b"2", b"3", b"4"] and all(put)

    asyncio.run(main())


def test_thread_bound_queues_rather_than_refuses() -> None:
    gate = threading.Event()
    inside = threading.Semaphore(0)
    running = 0
    peak = 0
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        inside.release()
        gate.wait(30)
        with lock:
            running -= 1
        start_response("200 OK", [])
        return [b"ok"]

    mount = WSGIMount(app, "", threads=2)

    async def main() -> list[FakeResponder]:
        loop = asyncio.get_running_loop()
        rs = [FakeResponder(loop) for _ in range(3)]
        for r in rs:
            mount(FakeRequest(), r)  # type: ignore[arg-type]
        for _ in range(2):
            assert await asyncio.to_thread(inside.acquire, True, 10)
        # Two threads are busy: the third request waits in the queue.
        assert not inside.acquire(blocking=False)
        gate.set()
        await asyncio.wait_for(asyncio.gather(*(r.done for r in rs)), 30)
        return rs

    try:
        rs = asyncio.run(main())
    finally:
        mount.close()
    assert [r.body for r in rs] == [b"ok"] * 3
    assert peak == 2


def test_header_bytes_reach_rust_unchanged() -> None:
    # PEP 3333 header values are bytes as latin-1 str; a non-ASCII one goes to Rust as those
    # bytes (Rust would write a str as UTF-8): UTF-8 an app encoded, or a lone latin-1 byte.
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        name = "é.txt".encode().decode("latin-1")
        start_response(
            "200 OK",
            [("Content-Disposition", f"attachment; filename={name}"), ("X-Latin", "caf\xe9")],
        )
        return [b""]

    r = serve(app)
    assert r.response is not None
    assert r.response.raw_headers == [
        ("Content-Disposition", "attachment; filename=é.txt".encode()),
        ("X-Latin", b"caf\xe9"),
    ]


def test_a_body_before_start_response_is_a_500() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        yield b"too early"

    r = serve(app)
    assert isinstance(r.error, WSGIProtocolError) and r.response is None
