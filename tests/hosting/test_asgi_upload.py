"""A large upload streamed through an ASGI app's `receive` in bounded memory: the app hashes
each chunk as it comes (tests/hosting/apps/raw_asgi.py, `/upload`), and the worker's resident
memory, sampled during the upload, grows by far less than the body. 64 MiB in the normal
suite; 1 GiB with COVETPY_BIG_UPLOAD=1."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer
from tests.hosting.conftest import covetpy_server, rss_bytes, worker_pid

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with covetpy_server(
        "tests.hosting.apps.raw_asgi:app",
        "--max-body-size",
        str(2048 * MiB),
        "--body-timeout",
        "60",
    ) as s:
        yield s


def body(total: int, block: bytes) -> Iterator[bytes]:
    for _ in range(total // len(block)):
        yield block


def upload(server: RunningServer, total: int) -> tuple[dict[str, object], int]:
    """Uploads `total` bytes; the app's answer and the worker's peak RSS growth meanwhile."""
    pid = worker_pid(server)
    baseline = rss_bytes(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    block = os.urandom(MiB)
    try:
        r = httpx.post(
            f"{server.url}/upload",
            content=body(total, block),
            headers={"content-length": str(total)},
            timeout=300,
        )
    finally:
        done.set()
        sampler.join()
    assert r.status_code == 200, r.text
    expected = hashlib.sha256()
    for _ in range(total // MiB):
        expected.update(block)
    answer: dict[str, object] = r.json()
    assert answer["bytes"] == total and answer["sha256"] == expected.hexdigest()
    return answer, peak - baseline


def test_64_mib_upload_in_bounded_memory(server: RunningServer) -> None:
    answer, growth = upload(server, 64 * MiB)
    print(f"64 MiB upload: {answer}, worker RSS growth {growth / MiB:.1f} MiB")
    assert isinstance(answer["chunks"], int) and answer["chunks"] > 1  # streamed, not whole
    assert growth < 24 * MiB, f"worker RSS grew by {growth / MiB:.1f} MiB"


@pytest.mark.timeout(600)
@pytest.mark.skipif(os.environ.get("COVETPY_BIG_UPLOAD") != "1", reason="COVETPY_BIG_UPLOAD=1")
def test_1_gib_upload_in_bounded_memory(server: RunningServer) -> None:
    answer, growth = upload(server, 1024 * MiB)
    print(f"1 GiB upload: {answer}, worker RSS growth {growth / MiB:.1f} MiB")
    assert growth < 48 * MiB, f"worker RSS grew by {growth / MiB:.1f} MiB"


def test_body_over_the_limit_is_413_and_a_disconnect_for_the_app() -> None:
    # A chunked body has no length to refuse up front: Rust cuts it at --max-body-size and
    # answers 413 itself; the app, mid-receive, gets http.disconnect (nothing is sent twice).
    with covetpy_server("tests.hosting.apps.raw_asgi:app", "--max-body-size", "65536") as small:
        r = httpx.post(f"{small.url}/upload", content=body(1 * MiB, b"x" * 4096), timeout=60)
        assert r.status_code == 413
        deadline = time.monotonic() + 30
        while "upload-disconnect" not in httpx.get(f"{small.url}/events").json():
            assert time.monotonic() < deadline, "the app never saw http.disconnect"
            time.sleep(0.02)
