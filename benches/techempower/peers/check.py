"""TFB's rules for an answer, checked against any server by URL, so every peer (and CovetPy)
is held to the same ones before it is measured:

    python -m benches.techempower.peers.check http://127.0.0.1:8000

`check(base, test)` answers why the server's answer to one test type is wrong, or None. It
covers what makes the work equal (status, Content-Type, the JSON shape, ids and numbers in
1..10000, the clamping of `queries`, the fortunes page's 13 rows sorted and escaped); the full
verifier of CovetPy's app is tests/techempower/test_verifier.py. Standard library only: it
runs in either venv.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import sys
import urllib.parse
from typing import Any

__all__ = ["PATHS", "TESTS", "check", "get"]

PATHS = {
    "json": "/json",
    "db": "/db",
    "queries": "/queries?queries=20",
    "fortunes": "/fortunes",
    "updates": "/updates?queries=20",
    "cached-queries": "/cached-queries?count=20",
    "plaintext": "/plaintext",
}
"""The URL each test type is measured at (the bench varies `queries` for the cells)."""
TESTS = tuple(PATHS)
_CLAMPED = {"": 1, "0": 1, "foo": 1, "501": 500, "5": 5}
_ROW = re.compile(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>")


def get(base: str, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of one GET."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def _world(row: Any) -> str | None:
    if not isinstance(row, dict) or set(row) != {"id", "randomNumber"}:
        return f"not a World object: {row!r}"
    if not all(type(row[k]) is int and 1 <= row[k] <= 10_000 for k in row):
        return f"id or randomNumber outside 1..10000: {row!r}"
    return None


def _worlds(body: bytes, count: int) -> str | None:
    rows = json.loads(body)
    if not isinstance(rows, list) or len(rows) != count:
        return f"wanted a list of {count} rows, got {body[:120]!r}"
    return next((w for w in map(_world, rows) if w), None)


def _fortunes(body: bytes) -> str | None:
    page = body.decode()
    rows = _ROW.findall(page)
    if len(rows) != 13:
        return f"{len(rows)} fortune rows, wanted 13"
    # Sorted by the message as stored, i.e. before escaping.
    messages = [html.unescape(m) for _, m in rows]
    if ("0", "Additional fortune added at request time.") not in rows:
        return "the fortune added at request time is missing"
    if "<script>" in page or "&lt;script&gt;" not in page:
        return "the <script> fortune is not escaped"
    if "フレームワークのベンチマーク" not in page:
        return "the Japanese fortune is not UTF-8"
    if messages != sorted(messages):
        return "fortunes not sorted by message"
    return None


def check(base: str, test: str) -> str | None:
    """Why the answer to `test` (a key of PATHS) is wrong, or None."""
    status, content_type, body = get(base, PATHS[test])
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    kind = content_type.split(";")[0].strip().lower()
    wanted = {"fortunes": "text/html", "plaintext": "text/plain"}.get(test, "application/json")
    if kind != wanted:
        return f"content-type {content_type!r}, wanted {wanted}"
    try:
        if test == "json":
            ok = json.loads(body) == {"message": "Hello, World!"}
            return None if ok else f"body {body[:100]!r}"
        if test == "plaintext":
            return None if body == b"Hello, World!" else f"body {body[:100]!r}"
        if test == "db":
            return _world(json.loads(body))
        if test == "fortunes":
            return _fortunes(body)
        wrong = _worlds(body, 20)
        if wrong:
            return wrong
        param = "count" if test == "cached-queries" else "queries"
        for raw, count in _CLAMPED.items():
            path = PATHS[test].split("?")[0] + (f"?{param}={raw}" if raw else "")
            status, _, body = get(base, path)
            wrong = f"status {status}" if status != 200 else _worlds(body, count)
            if wrong:
                return f"{param}={raw!r}: {wrong}"
    except ValueError as exc:
        return f"not JSON: {exc}"
    return None


def main() -> None:
    base = sys.argv[1]
    failed = 0
    for test in TESTS:
        wrong = check(base, test)
        failed += wrong is not None
        print(f"{test:15} {'ok' if wrong is None else wrong}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
