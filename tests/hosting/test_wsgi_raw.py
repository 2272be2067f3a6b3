"""PEP 3333 rules pinned end to end: `covetpy run --interface wsgi` serving a raw WSGI app
(tests/hosting/apps/wsgi_raw.py) with two worker threads."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server, raw_connection, rss_bytes

APP = "tests.hosting.apps.wsgi_raw:app"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wsgi_raw")


@pytest.fixture(scope="module")
def server(state: Path) -> Iterator[RunningServer]:
    with covetpy_server(
        APP,
        "--interface",
        "wsgi",
        "--wsgi-threads",
        "2",
        "--max-body-size",
        str(128 * MiB),
        env={"WSGI_RAW_DIR": str(state)},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def wait_for(path: Path, timeout: float = 30.0) -> str:
    """The content of `path` once the app has written it (the file exists, empty, between the
    app's open and its write: wait for the content, not the name)."""
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)
    return path.read_text()


def worker_pid(server: RunningServer) -> int:
    m = re.search(r"worker (\d+) serving", server.log)
    assert m, server.log
    return int(m.group(1))


def test_environ(client: httpx.Client) -> None:
    r = client.post(
        "/environ/caf%C3%A9/%FF?x=1&y=%20",
        content=b"{}",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Many", "1"),
            ("X-Many", "2"),
            ("X-Real-Ip", "1.2.3.4"),
            ("X_Real_Ip", "6.6.6.6"),
        ],
    )
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ/caf\xc3\xa9/\xff"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "2"
    assert env["HTTP_X_MANY"] == "1,2"
    assert env["HTTP_X_REAL_IP"] == "1.2.3.4"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"].isdigit()
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.run_once"] is False
    assert env["wsgi.file_wrapper"] == "type"
    assert all(env["_has"].values())


def test_64_mib_upload_streams_in_bounded_memory(
    client: httpx.Client, server: RunningServer
) -> None:
    pid = worker_pid(server)
    before = rss_bytes(pid)
    block = bytes(range(256)) * 256  # 64 KiB
    digest = hashlib.sha256()
    for _ in range(1024):
        digest.update(block)

    def body() -> Iterator[bytes]:  # chunked: no Content-Length
        for _ in range(1024):
            yield block

    r = client.post("/upload", content=body())
    assert r.json() == {"size": 64 * MiB, "sha256": digest.hexdigest(), "lines": 0}
    # With Content-Length as well.
    r = client.post("/upload", content=block * 1024)
    assert r.json()["size"] == 64 * MiB
    # The app holds one 64 KiB read at a time; the whole body would be 64 MiB.
    assert rss_bytes(pid) - before < 24 * MiB


def test_input_by_line_and_read_all(client: httpx.Client) -> None:
    text = b"".join(b"line %d\n" % i for i in range(20000)) + b"no newline"
    r = client.post("/upload?lines=1", content=text)
    assert r.json() == {
        "size": len(text),
        "sha256": hashlib.sha256(text).hexdigest(),
        "lines": 20001,
    }
    assert client.post("/read-all", content=b"abc").json() == {"data": "abc", "after": ""}
    assert client.post("/read-all").json() == {"data": "", "after": ""}


def test_start_response_twice_raises(client: httpx.Client) -> None:
    assert client.get("/start-twice").text == "second call raised WSGIProtocolError"


def test_malformed_start_response_is_refused(client: httpx.Client) -> None:
    assert len(client.get("/bad-headers").json()["refused"]) == 8


def test_exc_info_before_body_replaces_the_answer(client: httpx.Client) -> None:
    r = client.get("/replace-on-error")
    assert (r.status_code, r.text) == (503, "replaced")


def read_raw(server: RunningServer, path: str) -> bytes:
    """GET `path` on a raw connection; everything until the server closes it."""
    with raw_connection(server.port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_error_after_headers_sent_cuts_the_connection(server: RunningServer) -> None:
    data = read_raw(server, "/error-after-write")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"first part;" in data
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the body was cut


def test_legacy_write(client: httpx.Client) -> None:
    assert client.get("/write").text == "one,two,three"


def test_generator_calling_start_response_late(client: httpx.Client) -> None:
    r = client.get("/generator")
    assert (r.status_code, r.text, r.headers["x-lazy"]) == (201, "lazy body", "yes")


def test_exception_before_start_response_is_a_logged_500(
    client: httpx.Client, server: RunningServer
) -> None:
    r = client.get("/crash")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    server.wait_for_log("the app crashed before start_response")


def test_close_is_called(client: httpx.Client, server: RunningServer, state: Path) -> None:
    assert client.get("/closing?id=done").text == "start;end"
    assert wait_for(state / "closed-done") == "closed"
    data = read_raw(server, "/closing?id=fail&fail=1")
    assert b"start;" in data and not data.endswith(b"0\r\n\r\n")
    assert wait_for(state / "closed-fail") == "closed"


def test_close_is_called_when_the_client_leaves(server: RunningServer, state: Path) -> None:
    s = raw_connection(server.port)
    s.sendall(b"GET /closing?id=gone&forever=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < 1 * MiB:
        got += len(s.recv(65536))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset: the endless body stops and the app's close() runs
    assert wait_for(state / "closed-gone") == "closed"


def test_file_wrapper(client: httpx.Client) -> None:
    """A wsgi.file_wrapper around a regular file is sent by the server from the file
    (sendfile(2) under epoll), with a Content-Length rather than chunks."""
    for size in (100_000, 3 * MiB):
        r = client.get(f"/file?size={size}")
        assert r.content == bytes(i % 251 for i in range(size))
        assert r.headers["content-length"] == str(size)
        assert "transfer-encoding" not in r.headers


def test_thread_bound_queues_the_third_request(server: RunningServer, state: Path) -> None:
    results: dict[str, httpx.Response] = {}

    def get(name: str) -> None:
        results[name] = httpx.get(f"{server.url}/slow?id={name}", timeout=60)

    threads = [threading.Thread(target=get, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    wait_for(state / "entered-a")
    wait_for(state / "entered-b")
    third = threading.Thread(target=get, args=("c",))
    third.start()
    threads.append(third)
    # The server still answers (a Rust probe), and the third request has no thread.
    assert httpx.get(f"{server.url}/livez", timeout=10).status_code == 200
    assert not (state / "entered-c").exists()
    (state / "go").write_text("go")
    for t in threads:
        t.join(60)
    assert {n: r.status_code for n, r in results.items()} == {"a": 200, "b": 200, "c": 200}
    # Each request saw at most two running at once (itself included).
    assert max(int((state / f"entered-{n}").read_text()) for n in "abc") <= 2


def test_trusted_proxy_decides_client_and_scheme(state: Path) -> None:
    with covetpy_server(
        APP,
        "--interface",
        "wsgi",
        "--trusted-proxies",
        "127.0.0.1/32",
        env={"WSGI_RAW_DIR": str(state)},
    ) as proxied:
        env = httpx.get(
            f"{proxied.url}/environ",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
            timeout=30,
        ).json()
    assert env["REMOTE_ADDR"] == "203.0.113.9"
    assert env["wsgi.url_scheme"] == "https"
    # The server is one process with one worker here.
    assert env["wsgi.multiprocess"] is False


def test_untrusted_forwarded_headers_are_ignored(client: httpx.Client) -> None:
    env = client.get(
        "/environ", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    ).json()
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"]) == ("127.0.0.1", "http")
