"""End to end through a real server: return types, parameters, the Request view, errors,
streaming. One server for the module (these tests do not disturb each other)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer, read_response, running_server


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    with running_server("tests.apps.basic:app") as server:
        yield server


@pytest.fixture(scope="module")
def client(srv: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c


def test_str_is_text_plain(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.text == "Hello, World!"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "13"
    assert "date" in r.headers


def test_dict_is_json(client: httpx.Client) -> None:
    r = client.get("/json")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"message": "hi", "n": [1, 2, 3]}


def test_bytes_and_none(client: httpx.Client) -> None:
    r = client.get("/bytes")
    assert r.content == b"\x00\x01"
    assert r.headers["content-type"] == "application/octet-stream"
    r = client.get("/none")
    assert r.status_code == 204
    assert r.content == b""
    assert "content-length" not in r.headers


def test_response_object(client: httpx.Client) -> None:
    r = client.get("/custom")
    assert r.status_code == 201
    assert r.text == "created"
    assert r.headers["x-custom"] == "yes"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/42", {"id": 42}),
        ("/users/-7", {"id": -7}),
        ("/users/9223372036854775807", {"id": 9223372036854775807}),
        ("/by-annotation/2.5", {"n": 2.5}),
        (
            "/items/6F9619FF-8B86-D011-B42D-00CF4FC964FF",
            {"id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "type": "UUID"},
        ),
    ],
)
def test_typed_path_params(client: httpx.Client, path: str, expected: object) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.json() == expected


@pytest.mark.parametrize(
    "path",
    ["/users/abc", "/users/9223372036854775808", "/users/1.5", "/by-annotation/x", "/items/nope"],
)
def test_converter_mismatch_is_404(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_path_and_str_params_are_decoded(client: httpx.Client) -> None:
    assert client.get("/files/a/b/c.txt").text == "a/b/c.txt"
    assert client.get("/names/caf%C3%A9%2Fx").text == "café/x"


def test_405_lists_allowed_methods(client: httpx.Client) -> None:
    r = client.post("/")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    r = client.delete("/echo")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST, PUT"


def test_head_served_by_get(client: httpx.Client) -> None:
    r = client.head("/json")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) == len(client.get("/json").content)


def test_request_view(client: httpx.Client) -> None:
    r = client.get(
        "/inspect?q=a&q=b+c&x=%2F",
        headers=[("Accept", "text/html"), ("accept", "application/json")],
    )
    data = r.json()
    assert data["method"] == "GET"
    assert data["path"] == "/inspect"
    assert data["query"] == ["a", "b c"]
    assert data["query_string"] == "q=a&q=b+c&x=%2F"
    assert data["accept"] == ["text/html", "application/json"]
    assert data["host"].startswith("127.0.0.1:")
    assert data["client"][0] == "127.0.0.1"
    assert data["version"] == "1.1"


def test_request_path_params(client: httpx.Client) -> None:
    r = client.get("/params/5/x%20y")
    assert r.json() == {"path_params": {"a": 5, "b": "x y"}, "a": 5, "b": "x y"}


def test_body_echo_content_length_and_chunked(client: httpx.Client) -> None:
    r = client.post("/echo", content=b"hello", headers={"content-type": "application/x-test"})
    assert r.content == b"hello"
    assert r.headers["content-type"] == "application/x-test"

    def gen() -> Iterator[bytes]:
        yield b"chunk-one "
        yield b"chunk-two"

    r = client.put("/echo", content=gen())
    assert r.content == b"chunk-one chunk-two"


def test_request_json_and_stream(client: httpx.Client) -> None:
    assert client.post("/json-echo", json={"a": [1, 2]}).json() == {"a": [1, 2]}
    assert client.post("/stream-in", content=b"x" * 1000).json() == {"received": 1000}
    assert client.post("/stream-in", content=b"").json() == {"received": 0}


def test_malformed_json_body_is_400(client: httpx.Client) -> None:
    r = client.post("/json-echo", content=b"{not json")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "malformed JSON" in r.json()["detail"]


def test_async_handlers_that_suspend(client: httpx.Client) -> None:
    assert client.get("/sleep").text == "slept"


def test_handler_exception_is_500_without_traceback(
    client: httpx.Client, srv: RunningServer
) -> None:
    for path in ("/error", "/async-error"):
        r = client.get(path)
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/problem+json"
        assert "boom" not in r.text
        assert "Traceback" not in r.text
    srv.wait_for_log("RuntimeError: boom")
    srv.wait_for_log("RuntimeError: async boom")
    assert client.get("/").status_code == 200


def test_http_exception(client: httpx.Client) -> None:
    r = client.get("/teapot")
    assert r.status_code == 418
    assert r.headers["x-tea"] == "earl grey"
    assert r.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
    }


def test_rust_panic_in_a_handler_is_contained(client: httpx.Client) -> None:
    r = client.get("/panic")
    assert r.status_code == 500
    assert client.get("/").status_code == 200


def test_header_injection_is_refused(client: httpx.Client) -> None:
    r = client.get("/bad-header")
    assert r.status_code == 500
    assert "set-cookie" not in r.headers


def test_unencodable_return_is_500(client: httpx.Client) -> None:
    assert client.get("/unencodable").status_code == 500


def test_streaming_sync_and_async(client: httpx.Client) -> None:
    r = client.get("/stream")
    assert r.status_code == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text == "".join(f"chunk{i};" for i in range(5))
    r = client.get("/astream")
    lines = r.text.splitlines()
    assert len(lines) == 200
    assert lines[-1].endswith("199")


def test_stream_that_fails_cuts_the_connection(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/stream-fails")
    assert client.get("/").status_code == 200


def test_http10_stream_is_close_delimited(srv: RunningServer) -> None:
    with srv.connect() as s:
        s.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"".join(f"chunk{i};".encode() for i in range(5))


def test_startup_hook_ran_once(client: httpx.Client) -> None:
    assert client.get("/startup-count").json() == {"startup": 1}


def test_keep_alive_reuses_connection(srv: RunningServer) -> None:
    with srv.connect() as s:
        for i in range(3):
            s.sendall(f"GET /users/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, _, body = read_response(s)
            assert status == 200
            assert body == f'{{"id":{i}}}'.encode()


def test_slow_reader_gets_backpressure_and_disconnect_stops_the_producer(
    srv: RunningServer, client: httpx.Client
) -> None:
    with srv.connect() as s:
        s.sendall(b"GET /infinite HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        # Stop reading: socket buffers and the 16-chunk channel fill, then the producer waits
        # (seen as a count that stays put across a pause; how soon that is depends on the
        # machine, so it is waited for).
        deadline = time.monotonic() + 30
        produced = client.get("/infinite-state").json()["produced"]
        while True:
            time.sleep(0.3)
            now = client.get("/infinite-state").json()["produced"]
            if now == produced:
                break
            assert time.monotonic() < deadline, "the producer never waited"
            produced = now
        # Bounded: a few MiB of socket buffers plus 16 chunks, not an unbounded queue.
        assert produced * 65536 < 64 * 1024 * 1024
    deadline = time.monotonic() + 30
    while client.get("/infinite-state").json()["closed"] == 0:
        assert time.monotonic() < deadline, "producer still running after the client left"
        time.sleep(0.02)


def test_static_route_is_answered_in_rust(client: httpx.Client, srv: RunningServer) -> None:
    r = client.get("/static")
    assert (r.status_code, r.text, r.headers["x-fixed"]) == (200, "fixed body", "1")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.head("/static").content == b""
    assert client.post("/static").status_code == 405
    # Answered by the IO thread: it comes back even while the Python thread is busy.
    import threading

    spins = srv.log.count("spin started")
    spun: list[httpx.Response] = []
    t = threading.Thread(target=lambda: spun.append(client.get("/spin")))
    t.start()
    srv.wait_for_log("spin started", count=spins + 1)  # the handler holds the GIL from now on
    with httpx.Client(base_url=srv.url, timeout=30) as other:
        assert other.get("/static").text == "fixed body"
        answered = time.monotonic()
    t.join(30)
    # An ordering, not a duration: answered before the spin let go of the GIL.
    assert spun and answered < float(spun[0].text.rsplit(" ", 1)[1])
