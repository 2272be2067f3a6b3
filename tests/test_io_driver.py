"""`--io auto|epoll|uring`: the IO driver a worker runs, its default from $COVETPY_IO, its log
line. The rest of the suite runs once per driver (`make py-test`)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from covetpy.config import ServerConfig
from tests.conftest import ROOT, StartServer


@pytest.mark.parametrize("io", ["epoll", "uring"])
def test_each_driver_serves_and_says_so(start_server: StartServer, io: str) -> None:
    # No skip for uring: where the kernel refuses io_uring this fails, like `make py-test`.
    server = start_server("tests.apps.basic:app", "--io", io)
    with httpx.Client(base_url=server.url, timeout=5) as c:
        for _ in range(3):  # keep-alive: the same connection reads again after each answer
            assert c.get("/").status_code == 200
    server.wait_for_log(f"{io} IO driver")
    assert server.stop() == 0


def test_auto_runs_the_driver_measured_faster(start_server: StartServer) -> None:
    # epoll, measured faster than io_uring on this project's machine (adrs/0005).
    server = start_server("tests.apps.basic:app", "--io", "auto")
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
    server.wait_for_log(" IO driver")
    line = next(line for line in server.lines if " IO driver" in line)
    assert line.startswith("INFO ") and "epoll IO driver" in line, line
    assert server.stop() == 0


def test_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVETPY_IO", raising=False)
    assert ServerConfig().io == "auto"
    monkeypatch.setenv("COVETPY_IO", "epoll")
    assert ServerConfig().io == "epoll"
    assert ServerConfig(io="uring").io == "uring"


def test_an_unknown_driver_is_refused() -> None:
    with pytest.raises(ValueError, match="io must be auto, epoll or uring"):
        ServerConfig(io="kqueue")
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "examples.hello:app", "--io", "kqueue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "io must be auto, epoll or uring, not 'kqueue'" in proc.stdout + proc.stderr


def test_an_unknown_driver_in_the_environment_is_refused_without_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "covetpy", "run", "examples.hello:app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, COVETPY_IO="kqueue"),
    )
    assert proc.returncode != 0
    assert "(from $COVETPY_IO)" in proc.stderr
    assert "Traceback" not in proc.stderr


# Runs `covetpy ARGS...` under a seccomp filter that refuses io_uring_setup(2) with EPERM, as
# Docker's default profile does; the filter is inherited by the supervisor and its workers.
_REFUSE_IO_URING = """
import ctypes, os, struct, sys
IO_URING_SETUP = 425  # the same number on x86_64 and arm64
prog = b"".join([
    struct.pack("HBBI", 0x20, 0, 0, 0),                # ld [0]: the system call number
    struct.pack("HBBI", 0x15, 0, 1, IO_URING_SETUP),   # jeq io_uring_setup
    struct.pack("HBBI", 0x06, 0, 0, 0x00050001),       # ret ERRNO(EPERM)
    struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000),       # ret ALLOW
])
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack("HxxxxxxP", 4, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER
os.execv(sys.executable, [sys.executable, "-m", "covetpy", *sys.argv[1:]])
"""


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="syscall number")
def test_uring_fails_start_up_with_the_reason_where_the_kernel_refuses_it() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _REFUSE_IO_URING, "run", "examples.hello:app", "--io", "uring"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "io_uring is not available here (io_uring_setup: Operation not permitted" in (
        proc.stderr
    )
    assert "use --io epoll or --io auto" in proc.stderr
