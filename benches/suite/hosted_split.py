"""Where a hosted request's server CPU goes on CovetPy: per thread (the IO thread, the Python
thread, a WSGI app's threads) over a wrk run, beside what the app costs called in a loop with
no server at all. The difference is the server's part: the floor any server pays is the app.

    .venv/bin/python -m benches.suite.hosted_split [--apps asgi,starlette,fastapi,flask]

The app alone runs in this process pinned to CPU 0, where the server runs in the suite; the
requests are the plaintext scenario's (GET /plaintext).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from typing import Any

from benches.suite.measure import _script, process_tree, serve, thread_cpu_seconds, wrk
from benches.suite.scenarios import FRAMEWORKS, SCENARIOS
from benches.suite.servers import HOSTED_APPS, SERVERS, WSGI_APPS

_CALLS = 20_000


def _load(framework: str) -> Any:
    module, attr = HOSTED_APPS[framework].split(":")
    __import__(module)
    return getattr(sys.modules[module], attr)


def _environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000", "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }  # fmt: skip


def app_alone_us(framework: str, path: str = "/plaintext") -> float:
    """CPU µs per call of the app itself, no server (a WSGI call consumes its body)."""
    app = _load(framework)
    if framework in WSGI_APPS:
        start = time.process_time()
        for _ in range(_CALLS):
            b"".join(app(_environ(path), lambda status, headers, exc_info=None: None))
        return (time.process_time() - start) / _CALLS * 1e6
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def calls() -> float:
        start = time.process_time()
        for _ in range(_CALLS):
            await app(dict(scope), receive, send)
        return (time.process_time() - start) / _CALLS * 1e6

    return asyncio.run(calls())


def covetpy_threads(name: str, seconds: float = 3) -> tuple[float, dict[str, float]]:
    """requests/s and CPU µs per request per thread name of `covetpy run` serving scenario
    `name` (pinned as the suite pins)."""
    scenario = SCENARIOS[name]
    with tempfile.TemporaryDirectory() as tmp, serve(SERVERS["covetpy"], scenario, True) as s:
        script = _script(scenario, tmp)
        wrk(s.port, scenario, 1, True, script)
        pids = process_tree(s.proc.pid)
        before = thread_cpu_seconds(pids)
        w = wrk(s.port, scenario, seconds, True, script)
        after = thread_cpu_seconds(pids)
    n = max(int(w["requests"]), 1)
    split = {k: (v - before.get(k, 0.0)) / n * 1e6 for k, v in after.items()}
    return n / (w["duration_us"] / 1e6), {k: v for k, v in split.items() if v >= 0.05}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benches.suite.hosted_split", description=__doc__)
    p.add_argument("--apps", default=",".join(FRAMEWORKS), help="comma list of hosted apps")
    args = p.parse_args(argv)
    print("| app (plaintext GET) | req/s | CovetPy CPU µs/req by thread | app alone µs/call |")
    print("|---|---:|---|---:|")
    for framework in args.apps.split(","):
        rate, split = covetpy_threads(f"{framework}-plaintext")
        os.sched_setaffinity(0, {0})
        alone = app_alone_us(framework)
        threads = ", ".join(f"{k} {v:.1f}" for k, v in sorted(split.items(), key=lambda i: -i[1]))
        print(f"| {FRAMEWORKS[framework]} | {rate:,.0f} | {threads} | {alone:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
