"""The ASGI scope of one request built in Rust (`Request.asgi_scope`) against the same dict
built in Python from the `Request` view, per build, inside one handler of a real server:

    .venv/bin/python -m benches.asgi_scope

Starts `covetpy run benches.asgi_scope:app` on a free loopback port, asks `/scope` three
times (six request headers) and prints the figures (adrs/0015). The Python figure is
optimistic: the `Headers` multidict it reads is built once and cached.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

from covetpy import App, Request

app = App()
TEMPLATE: dict[str, Any] = {
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "root_path": "",
    "server": ("127.0.0.1", 8000),
    "extensions": {},
}
BUILDS = 20_000


def python_scope(request: Request) -> dict[str, Any]:
    return {
        **TEMPLATE,
        "type": "http",
        "http_version": request.http_version,
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.query_string.encode(),
        "headers": [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()
        ],
        "client": request.client,
    }


@app.get("/scope")
def scope(request: Request) -> dict[str, float]:
    t = time.perf_counter()
    for _ in range(BUILDS):
        request.asgi_scope(TEMPLATE)
    rust = (time.perf_counter() - t) / BUILDS * 1e6
    t = time.perf_counter()
    for _ in range(BUILDS):
        python_scope(request)
    python = (time.perf_counter() - t) / BUILDS * 1e6
    return {"rust_us": round(rust, 2), "python_us": round(python, 2)}


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "covetpy", "run", "benches.asgi_scope:app", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/scope"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        headers = {"accept": "*/*", "x-a": "1", "x-b": "2", "accept-encoding": "gzip"}
        for _ in range(3):
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, timeout=60) as r:
                print(json.loads(r.read()))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
