"""Autobahn's fuzzing-client cases against our server, through `kosoku` (the Autobahn test suite's
case files run by a Rust runner; the original runner needs Python 2).

Every case must end OK, NON-STRICT or INFORMATIONAL; none FAILED, none ERROR. Here, per IO
driver: cases 1-7 and 10 (framing, pings, reserved bits, opcodes, fragmentation, UTF-8, close
handling, message limits) with permessage-deflate off and on, and a sample of the compression
cases 12.x/13.x. `make autobahn` runs the whole of 12.x and 13.x too (CI), `make autobahn-perf`
the long performance cases 9.x."""

from __future__ import annotations

import asyncio
import collections
import os

import pytest

from tests.conftest import running_server

kosoku = pytest.importorskip("kosoku")

# AUTOBAHN=full (`make autobahn`): every compression case; AUTOBAHN=perf (`make
# autobahn-perf`): the performance cases 9.x too (minutes).
SCOPE = os.environ.get("AUTOBAHN", "")
CORE = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"] + (
    ["9.*"] if SCOPE == "perf" else []
)
COMPRESSION = ["12.*", "13.*"] if SCOPE else ["12.1.*", "12.2.1", "13.1.*", "13.3.1", "13.7.1"]

# The 12.x case file leaves its test data file open (kosoku 0.1.0): its ResourceWarning is not
# ours.
pytestmark = [
    # The whole of 12.x and 13.x (`make autobahn`) takes about 4 minutes here; 9.x longer.
    pytest.mark.timeout(1800),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def run_cases(port: int, cases: list[str]) -> collections.Counter[str]:
    """Runs the cases; a Counter of verdicts. Raises with the failing cases listed."""

    async def go() -> list[object]:
        try:
            got: list[object] = await kosoku.run_fuzzingclient(
                f"ws://127.0.0.1:{port}/", cases=cases, concurrency=2
            )
        except kosoku.FailureError as e:
            got = list(e.results)
        return got

    results = asyncio.run(go())
    assert results, "no case ran"
    verdicts: collections.Counter[str] = collections.Counter()
    bad = []
    for r in results:
        behavior = r.behavior.value  # type: ignore[attr-defined]
        close = r.behavior_close.value  # type: ignore[attr-defined]
        verdicts[f"{behavior}/{close}"] += 1
        if not r.passed:  # type: ignore[attr-defined]
            bad.append(f"{r.case_id}: {behavior}/{close}: {r.result}")  # type: ignore[attr-defined]
    assert not bad, "\n".join(bad)
    return verdicts


# 9.1.6 and 9.2.6 send 16 MiB messages: past the default --ws-max-message (1 MiB, 1009).
PERF_ARGS = ("--ws-max-message", str(64 << 20)) if SCOPE == "perf" else ()


def test_core_cases_without_compression() -> None:
    with running_server("tests.apps.ws_autobahn:app", *PERF_ARGS) as server:
        verdicts = run_cases(server.port, CORE)
    # No compression offered: none unimplemented.
    assert sum(verdicts.values()) >= 247, verdicts


def test_core_and_compression_cases_with_compression() -> None:
    # Every message compressed (min size 0), as the 12.x/13.x cases expect of an echo.
    args = ("--ws-compression", "--ws-compression-min-size", "0", *PERF_ARGS)
    with running_server("tests.apps.ws_autobahn:app", *args) as server:
        verdicts = run_cases(server.port, CORE + COMPRESSION)
    assert not any(v.startswith("UNIMPLEMENTED") for v in verdicts), verdicts
