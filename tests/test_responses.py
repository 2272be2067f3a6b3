"""FileResponse (ranges, conditional requests), redirects and cookies, through a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, running_server

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
