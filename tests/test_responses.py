"""FileResponse (ranges, conditional requests), redirects and cookies, through a real server;
`Response.headers`, a mutable view whose every write reaches the wire."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from covetpy import App, Request, Response
from covetpy.headers import InvalidHeader, MutableHeaders
from covetpy.responses import FileResponse, JSONResponse, RedirectResponse, to_response
from covetpy.testing import TestClient
from tests.apps import header_edits
from tests.conftest import RunningServer, exchange, running_server

CONTENT = bytes(range(256)) * 1024 + b"tail"  # 256 KiB + 4: several 64 KiB chunks


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path: Path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(CONTENT)
    os.environ["COVETPY_TEST_FILE"] = str(path)
    try:
        with running_server("tests.apps.files_app:app") as server:
            yield server
    finally:
        del os.environ["COVETPY_TEST_FILE"]


@pytest.fixture(scope="module")
def client(srv: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def test_a_304_keeps_every_occurrence_of_the_fields_it_repeats(tmp_path: Path) -> None:
    """A 304 repeats the validators and caching fields of the 200 (RFC 9110 §15.4.5); it kept
    only the last `vary` of two, since it went through a dict."""
    path = tmp_path / "page.txt"
    path.write_text("page")
    app = App(openapi_url=None)

    @app.get("/page")
    def page() -> FileResponse:
        response = FileResponse(path)
        response.headers.append("vary", "accept-encoding")
        response.headers.append("vary", "accept-language")
        response.headers["x-other"] = "not repeated in a 304"
        return response

    with TestClient(app) as c:
        first = c.get("/page")
        r = c.get("/page", headers={"if-none-match": first.headers["etag"]})
        assert r.status_code == 304
        assert r.headers.get_list("vary") == ["accept-encoding", "accept-language"]
        assert r.headers["etag"] == first.headers["etag"]
        assert "x-other" not in r.headers


def test_whole_file_with_validators(client: httpx.Client) -> None:
    r = client.get("/file")
    assert r.status_code == 200
    assert r.content == CONTENT
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"')
    assert "last-modified" in r.headers


def test_if_none_match_and_if_modified_since_give_304(client: httpx.Client) -> None:
    first = client.get("/file")
    r = client.get("/file", headers={"if-none-match": first.headers["etag"]})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == first.headers["etag"]
    r = client.get("/file", headers={"if-modified-since": first.headers["last-modified"]})
    assert r.status_code == 304
    r = client.get("/file", headers={"if-none-match": '"other"'})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=100-", 100, len(CONTENT)), ("bytes=-4", len(CONTENT) - 4,
     len(CONTENT)), ("bytes=70000-200000", 70000, 200001)],
)  # fmt: skip
def test_ranges_give_206(client: httpx.Client, header: str, start: int, end: int) -> None:
    r = client.get("/file", headers={"range": header})
    assert r.status_code == 206
    assert r.content == CONTENT[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(CONTENT)}"


def test_unsatisfiable_range_is_416(client: httpx.Client) -> None:
    r = client.get("/file", headers={"range": f"bytes={len(CONTENT) + 10}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(CONTENT)}"


def test_if_range_mismatch_sends_the_whole_file(client: httpx.Client) -> None:
    r = client.get("/file", headers={"range": "bytes=0-9", "if-range": '"stale"'})
    assert r.status_code == 200
    assert len(r.content) == len(CONTENT)


def test_head_and_download_name(client: httpx.Client) -> None:
    r = client.head("/file")
    assert r.status_code == 200
    assert r.content == b""
    r = client.get("/download")
    assert r.headers["content-disposition"] == "attachment; filename*=utf-8''report%201.bin"


def test_missing_file_is_404(client: httpx.Client) -> None:
    assert client.get("/missing-file").status_code == 404


def test_redirect(client: httpx.Client) -> None:
    r = client.get("/redirect")
    assert r.status_code == 307
    assert r.headers["location"] == "/target?x=1"


def test_cookies(client: httpx.Client) -> None:
    r = client.get("/cookie")
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("sid=abc") and "HttpOnly" in c and "Max-Age=60" in c for c in cookies)
    assert any(c.startswith("old=") and "Max-Age=0" in c for c in cookies)


# -- Response.headers: a view that writes through (issue 13, point 2) ---------------------------


def test_response_headers_write_through_to_raw_headers() -> None:
    # The bug: `headers` was a new dict per access, so these writes were silently lost.
    r = Response("x", headers={"X-B": "2", "x-c": "3"})
    r.headers["X-A"] = "1"
    del r.headers["x-b"]
    r.headers.append("set-cookie", "a=1")
    r.headers.append("Set-Cookie", "b=2")
    assert r.raw_headers == [
        ("x-c", "3"),
        ("x-a", "1"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]
    # Every view sees the same list, and the list the server reads is the same object.
    raw = r.raw_headers
    r.headers["x-c"] = "4"
    assert r.raw_headers is raw and r.headers["X-C"] == "4"


def test_response_headers_mapping_behaviour() -> None:
    r = Response("x", headers={"x-a": "1"})
    h = r.headers
    h.append("set-cookie", "a=1")
    h.append("set-cookie", "b=2")
    h.append("x-a", "2")
    assert isinstance(h, MutableHeaders)
    assert h["X-A"] == "1" and h.get("x-a") == "1"  # the first value
    assert h.getlist("x-a") == ["1", "2"] and h.getlist("nope") == []
    assert h.get("nope") is None and h.get("nope", "d") == "d"
    assert "SET-COOKIE" in h and "nope" not in h and 1 not in h  # type: ignore[comparison-overlap]
    # keys once each, in first-seen order; items every field.
    assert list(h) == list(h.keys()) == ["x-a", "set-cookie"]
    assert len(h) == 2
    assert list(h.values()) == ["1", "a=1"]
    assert list(h.items()) == r.raw_headers
    assert len(h.items()) == 4 and ("Set-Cookie", "b=2") in h.items()
    # [] replaces every value of a name; the first keeps its place.
    h["x-a"] = "3"
    assert h.getlist("x-a") == ["3"] and next(iter(h)) == "x-a"
    assert h.setdefault("x-a", "ignored") == "3"
    assert h.setdefault("x-new", "4") == "4" and h["x-new"] == "4"
    h.update({"X-New": "5", "cache-control": "no-store"}, vary="accept")
    assert (h["x-new"], h["cache-control"], h["vary"]) == ("5", "no-store", "accept")
    assert h.pop("vary") == "accept" and "vary" not in h
    with pytest.raises(KeyError):
        del h["absent"]
    with pytest.raises(KeyError):
        h["absent"]
    h.clear()
    assert r.raw_headers == [] and len(h) == 0


def test_response_headers_equality() -> None:
    h = Response(None, headers={"a": "1", "b": "2"}).headers
    assert h == {"A": "1", "b": "2"}
    assert h != {"a": "1"}
    assert h == Response(None, headers={"b": "2", "a": "1"}).headers


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-a", "1\r\nx-injected: yes"),
        ("x-a", "1\nx"),
        ("x-a", "nul\x00"),
        ("x-a", "bell\x07"),
        ("x-a\r\nx-injected", "1"),
        ("bad name", "1"),
        ("", "1"),
        ("x:a", "1"),
    ],
)
def test_response_headers_refuse_injection(name: str, value: str) -> None:
    r = Response("x")
    before = list(r.raw_headers)
    with pytest.raises(InvalidHeader):
        r.headers[name] = value
    with pytest.raises(ValueError):  # InvalidHeader is a ValueError (and a CovetError)
        r.headers.append(name, value)
    assert r.raw_headers == before


def test_response_headers_take_str_only() -> None:
    r = Response("x")
    with pytest.raises(TypeError, match="must be a str"):
        r.headers["x-a"] = 1  # type: ignore[assignment]
    with pytest.raises(TypeError, match="must be a str"):
        r.headers[b"x-a"] = "1"  # type: ignore[index]
    assert r.headers.get("x-a") is None
    r.headers["x-tab"] = "a\tb"  # HTAB is allowed in a value (RFC 9110 §5.5)
    assert r.headers["x-tab"] == "a\tb"


def test_set_header_and_other_responses_keep_the_same_list() -> None:
    r = RedirectResponse("/x")
    raw = r.raw_headers
    r.set_header("Location", "/y")
    r.headers.append("location", "/z")
    r.set_header("location", "/w")
    assert r.raw_headers is raw and r.headers.getlist("location") == ["/w"]
    j = to_response({"a": 1})
    j.headers["x-a"] = "1"
    assert ("x-a", "1") in j.raw_headers
    copy = JSONResponse({}, headers=r.headers)  # a MutableHeaders is a Mapping
    assert copy.headers["location"] == "/w"


def test_response_headers_accept_a_replaced_raw_headers() -> None:
    r = Response("x")
    r.raw_headers = (("x-a", "1"),)  # type: ignore[assignment]
    r.headers["x-b"] = "2"
    assert r.raw_headers == [("x-a", "1"), ("x-b", "2")]


def _check_edited(r: httpx.Response, body: str) -> None:
    assert r.status_code == 200, r.text
    assert r.text == body
    assert r.headers["x-a"] == "1"
    assert r.headers.get_list("x-a") == ["1"]
    assert "x-b" not in r.headers
    assert r.headers.get_list("set-cookie") == ["first=1; Path=/", "second=2; Path=/"]
    assert r.headers["x-kept"] == "handler"


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_middleware_header_edits_reach_the_test_client(path: str) -> None:
    with TestClient(header_edits.app) as client:
        _check_edited(client.get(path), path[1:])
        assert dict(client.cookies) == {"first": "1", "second": "2"}


@pytest.fixture(scope="module")
def edits_server() -> Iterator[RunningServer]:
    with running_server("tests.apps.header_edits:app") as server:
        yield server


@pytest.mark.parametrize("path", ["/async", "/sync"])
def test_middleware_header_edits_reach_the_wire(edits_server: RunningServer, path: str) -> None:
    with httpx.Client(base_url=edits_server.url, timeout=10) as client:
        _check_edited(client.get(path), path[1:])
    # The bytes themselves: one field line per set-cookie, no x-b, x-a once.
    with edits_server.connect() as s:
        raw = exchange(s, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().split("\r\n")
    assert head.count("x-a: 1") == 1
    assert not any(line.startswith("x-b:") for line in head)
    assert [line for line in head if line.startswith("set-cookie:")] == [
        "set-cookie: first=1; path=/",
        "set-cookie: second=2; path=/",
    ]


# -- Request.headers stays read-only -------------------------------------------------------------


def test_request_headers_are_read_only() -> None:
    from covetpy import App

    app = App(openapi_url=None)
    seen: list[str] = []

    @app.get("/")
    def handler(request: Request) -> str:
        try:
            request.headers["x-a"] = "1"  # type: ignore[index]
        except TypeError as exc:
            seen.append(str(exc))
        try:
            del request.headers["host"]  # type: ignore[attr-defined]
        except TypeError as exc:
            seen.append(str(exc))
        try:
            request.query_params["q"] = "1"  # type: ignore[index]
        except TypeError as exc:
            seen.append(str(exc))
        assert request.headers["host"] == "testserver"
        return "ok"

    with TestClient(app) as client:
        assert client.get("/?q=0").text == "ok"
    assert seen == [
        "request headers are read-only; set headers on the Response",
        "request headers are read-only; set headers on the Response",
        "query parameters are read-only",
    ]


def test_a_file_larger_than_one_piece_is_sent_whole_with_its_length(tmp_path: Path) -> None:
    """The server sends a FileResponse from the file itself (sendfile(2) under epoll, reads
    under io_uring) in 1 MiB pieces, with Content-Length instead of chunks; a range that
    starts in one piece and ends in another comes out exact."""
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    app = App(openapi_url=None)

    @app.get("/big")
    def big() -> FileResponse:
        return FileResponse(path)

    with TestClient(app) as c:
        r = c.get("/big")
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(data))
        assert "transfer-encoding" not in r.headers
        assert r.content == data
        r = c.get("/big", headers={"range": "bytes=1048570-2097160"})
        assert r.status_code == 206
        assert r.content == data[1048570:2097161]
        head = c.head("/big")
        assert head.headers["content-length"] == str(len(data))
        assert head.content == b""


def test_raw_headers_may_be_bytes_pairs_as_an_asgi_app_sends_them() -> None:
    """`raw_headers` items may be (bytes, bytes), as ASGI messages carry them (a hosted app's
    headers cross without a decode); a value that is not a valid header is still refused."""
    app = App(openapi_url=None)

    @app.get("/b")
    def b() -> Response:
        r = Response(b"ok")
        r.raw_headers = [(b"x-bytes", b"\xe9t\xe9"), ("x-text", "plain")]
        return r

    @app.get("/bad")
    def bad() -> Response:
        r = Response(b"ok")
        r.raw_headers = [(b"x-bad", b"a\r\nb")]
        return r

    with TestClient(app) as c:
        r = c.get("/b")
        assert (b"x-bytes", b"\xe9t\xe9") in r.headers.raw
        assert (b"x-text", b"plain") in r.headers.raw
        assert c.get("/bad").status_code == 500


def test_a_declared_length_without_a_body_is_kept_for_head_only() -> None:
    """An empty body with a declared Content-Length (a WSGI app that left the body out of a
    HEAD answer): HEAD says the declared length (RFC 9110 §9.3.2); GET says 0, since no body
    follows, rather than making the client wait for bytes that never come."""
    app = App(openapi_url=None)

    @app.route("/d", methods=["GET", "HEAD"])
    def d() -> Response:
        return Response(b"", headers={"content-length": "16"})

    with TestClient(app) as c:
        assert c.head("/d").headers["content-length"] == "16"
        r = c.get("/d")
        assert r.headers["content-length"] == "0"
        assert r.content == b""
