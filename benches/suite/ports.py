"""Local ports for the many-connection scenarios (c4096, c16384): wrk opens every connection
from 127.0.0.1 to one server port, each from its own ephemeral port, and when it exits those
ports stay in TIME_WAIT for 60 s (wrk closes first).

Linux (6.x) gives connect() the even ports of `net.ipv4.ip_local_port_range` first and only
then searches the odd ones, port by port; the default range (32768-60999) has 14,116 even
ports, fewer than 16,384. Past them each connect() scans the used ports: measured 2026-12-07,
wrk -c16384 spent 3 to 7 s of a run in the kernel connecting (0 requests in a 1 s run after
one full run), which is the client's limit, not the server's. Two things keep a cell honest:
`warning` says at start when the range is too small (widen it:
`sysctl -w net.ipv4.ip_local_port_range="1024 65000"`), and `wait_for_free` waits before
each run until the TIME_WAIT ports of the last one have expired, when they would crowd it.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["ephemeral_range", "wait_for_free", "warning"]

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_TCP = Path("/proc/net/tcp")
# Room to spare beyond the connections asked for (other benches, the server's own sockets).
_MARGIN = 1000
# TIME_WAIT lasts 60 s on Linux (TCP_TIMEWAIT_LEN); a little more than that is the most a wait
# can take.
_LONGEST_WAIT_S = 70.0


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (inclusive)."""
    try:
        low, high = (int(x) for x in _RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _used() -> int:
    """Local ports of the ephemeral range held by any IPv4 socket (TIME_WAIT included)."""
    low, high = ephemeral_range()
    used = set()
    try:
        lines = _TCP.read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        local = line.split()[1]
        port = int(local.rsplit(":", 1)[1], 16)
        if low <= port <= high:
            used.add(port)
    return len(used)


def warning(connections: int) -> str | None:
    """Why `connections` connections from one address will be slow to open here, or None."""
    low, high = ephemeral_range()
    even = (high - low) // 2 + 1
    if connections + _MARGIN <= even:
        return None
    return (
        f"{connections:,} connections need more than the {even:,} even ephemeral ports of "
        f"{low}-{high}: wrk will spend part of each run connecting "
        '(widen it: sysctl -w net.ipv4.ip_local_port_range="1024 65000")'
    )


def wait_for_free(connections: int) -> float:
    """Waits until `connections` ports (and a margin) are free in the ephemeral range, at
    most 70 s; returns the seconds waited."""
    low, high = ephemeral_range()
    size = high - low + 1
    start = time.monotonic()
    while size - _used() < connections + _MARGIN:
        if time.monotonic() - start > _LONGEST_WAIT_S:
            break
        time.sleep(1)
    return time.monotonic() - start
