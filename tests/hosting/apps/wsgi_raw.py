"""A raw PEP 3333 app that pins what the WSGI mount does: the environ, `wsgi.input`,
`start_response`'s rules, `close()`, and the thread pool's bound.

Side effects the tests watch go to files in `$WSGI_RAW_DIR` (a test's tmp dir): a request
that blocks holds a worker thread, so the test cannot ask the server how things stand.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]

STATE = Path(os.environ.get("WSGI_RAW_DIR", "/tmp"))
_lock = threading.Lock()
_active = 0


def _text(start_response: StartResponse, body: str, status: str = "200 OK") -> list[bytes]:
    data = body.encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


def _json(start_response: StartResponse, value: Any) -> list[bytes]:
    data = json.dumps(value).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def _query(environ: Environ) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}


def environ_view(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Every str/int/bool/tuple entry, and the type names of the others."""
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if isinstance(value, str | int | bool | tuple):
            out[key] = value
        else:
            out[key] = type(value).__name__
    out["_has"] = {
        name: hasattr(environ["wsgi.input"], name)
        for name in ("read", "readline", "readlines", "__iter__")
    }
    return _json(start_response, out)


def upload(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Reads the body with read(n) (or readline with ?lines=1) and reports its size and hash."""
    body = environ["wsgi.input"]
    digest = hashlib.sha256()
    size = 0
    lines = 0
    if _query(environ).get("lines"):
        for line in body:
            digest.update(line)
            size += len(line)
            lines += 1
    else:
        while chunk := body.read(65536):
            digest.update(chunk)
            size += len(chunk)
    return _json(start_response, {"size": size, "sha256": digest.hexdigest(), "lines": lines})


def read_all(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """read() with no size, then read(10) at the end (b"")."""
    body = environ["wsgi.input"]
    data = body.read()
    after = body.read(10)
    return _json(start_response, {"data": data.decode("latin-1"), "after": after.decode()})


def start_twice(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        start_response("200 OK", [("Content-Type", "text/plain")])
    except AssertionError as exc:
        return [f"second call raised {type(exc).__name__}".encode()]
    return [b"second call accepted"]


def bad_headers(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Tries each malformed start_response; reports which were refused, then answers."""
    refused = []
    cases: list[tuple[Any, Any]] = [
        ("200", []),
        ("OK 200", []),
        (b"200 OK", []),
        ("200 OK", [("X-A", "1\r\nX-B: 2")]),
        ("200 OK", [("X A", "1")]),
        ("200 OK", [("X-A", 1)]),
        ("200 OK", [("X-A", "snow\u2603man")]),
        ("200 OK", (("X-A", "1"),)),
    ]
    for status, headers in cases:
        try:
            start_response(status, headers)
        except AssertionError:
            refused.append(repr((status, headers)))
    return _json(start_response, {"refused": refused})


def replace_on_error(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """start_response, then an error before any body: exc_info replaces the answer."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("late failure")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced"]


def error_after_write(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Streams a first chunk, then fails: exc_info is raised back, the connection is cut."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first part;")
    try:
        raise ValueError("failure after the headers were sent")
    except ValueError:
        start_response("500 Internal Server Error", [], sys.exc_info())
    return [b"never sent"]


def write_legacy(environ: Environ, start_response: StartResponse) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"one,")
    write(b"two,")
    return [b"three"]


def crash(environ: Environ, start_response: StartResponse) -> list[bytes]:
    raise RuntimeError("the app crashed before start_response")


class _Closing:
    """A body whose close() leaves a file `closed-<id>` behind."""

    def __init__(self, name: str, chunks: Iterator[bytes]) -> None:
        self.name = name
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks

    def close(self) -> None:
        (STATE / f"closed-{self.name}").write_text("closed")


def closing(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """?id=X[&forever=1]: a body that streams (forever: until the client leaves)."""
    q = _query(environ)

    def chunks() -> Iterator[bytes]:
        yield b"start;"
        if q.get("fail"):
            raise RuntimeError("the body iterator failed")
        if q.get("forever"):
            while True:
                yield b"x" * 65536
        yield b"end"

    start_response("200 OK", [("Content-Type", "text/plain")])
    return _Closing(q["id"], chunks())


def slow(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """?id=X: marks `entered-X` (with how many run at once), then waits for the file `go`."""
    global _active
    with _lock:
        _active += 1
        now = _active
    (STATE / f"entered-{_query(environ)['id']}").write_text(str(now))
    try:
        deadline = time.monotonic() + 60
        while not (STATE / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        with _lock:
            _active -= 1
    return _text(start_response, f"slow {now}")


def file_wrapper(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """?size=N: a temporary file of N bytes served through wsgi.file_wrapper."""
    size = int(_query(environ).get("size", "1000"))
    path = STATE / f"file-{size}"
    if not path.exists():
        path.write_bytes(bytes(i % 251 for i in range(size)))
    f = open(path, "rb")  # the file wrapper closes it
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
    )
    wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](f, 8192)
    return wrapper


def generator_start(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    """A generator app: start_response is called at the first iteration (PEP 3333 allows it)."""
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
    yield b"lazy "
    yield b"body"


ROUTES: dict[str, Callable[[Environ, StartResponse], Iterable[bytes]]] = {
    "/environ": environ_view,
    "/upload": upload,
    "/read-all": read_all,
    "/start-twice": start_twice,
    "/bad-headers": bad_headers,
    "/replace-on-error": replace_on_error,
    "/error-after-write": error_after_write,
    "/write": write_legacy,
    "/crash": crash,
    "/closing": closing,
    "/slow": slow,
    "/file": file_wrapper,
    "/generator": generator_start,
}


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    handler = environ_view if path.startswith("/environ") else ROUTES.get(path)
    if handler is None:
        return _text(start_response, "not found: " + path, "404 Not Found")
    return handler(environ, start_response)
