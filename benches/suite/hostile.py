"""The report of the hostile scenarios (issue 20, part 3): one row per pattern with CovetPy's
figure in the pattern's own unit (requests, new connections, MiB), its server CPU per unit
over nginx's (the issue's target: within 1.3x wherever nginx serves the same answer), whether
it needs less CPU per unit than every Python peer (the other target), and its errors; then
what the slow clients of `slow-mix` met on each server.

CPU per unit, not requests/s, carries the targets: on two cores the load generator caps
requests/s for the cheap servers, and for `split-head` the client's pauses set the pace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benches.suite import slow
from benches.suite.scenarios import SCENARIOS
from benches.suite.servers import SERVERS

__all__ = ["NGINX_TARGET", "tables", "unit_figures"]

NGINX_TARGET = 1.3
"""CovetPy's server CPU per unit over nginx's, at most (issue 20)."""

Cells = dict[tuple[str, str], dict[str, Any]]


def unit_figures(scenario: str, summary: dict[str, Any]) -> dict[str, float]:
    """A measured cell's rate and CPU in the scenario's unit (MiB for the upload)."""
    per = SCENARIOS[scenario].units_per_request
    return {
        "units_per_s": summary["requests_per_s"] * per,
        "cpu_us_per_unit": summary["server_cpu_us_per_request"] / per,
    }


def _cpu(us: float) -> str:
    return f"{us:.2f}" if us < 1 else f"{us:.1f}"


def _ok(by: Cells, server: str, scenario: str) -> dict[str, Any] | None:
    s = by.get((server, scenario))
    return s if s is not None and s["status"] == "ok" else None


def _row(by: Cells, scenario: str, servers: list[str], label: Callable[[str], str]) -> str:
    sc = SCENARIOS[scenario]
    ours = _ok(by, "covetpy", scenario)
    if ours is None:
        status = by.get(("covetpy", scenario), {}).get("status", "not run")
        return f"| {sc.title} | {status} |||||||"
    mine = unit_figures(scenario, ours)
    nginx = next((_ok(by, s, scenario) for s in servers if SERVERS[s].floor), None)
    if nginx is not None:
        floor = unit_figures(scenario, nginx)["cpu_us_per_unit"]
        ratio = mine["cpu_us_per_unit"] / floor
        verdict = "met" if ratio <= NGINX_TARGET else "**short**"
        vs_nginx = f"{_cpu(floor)} | x{ratio:.2f} ({verdict})"
    else:
        vs_nginx = "n/a | -"
    peers = [
        (s, unit_figures(scenario, c)["cpu_us_per_unit"])
        for s in servers
        if not SERVERS[s].ours and not SERVERS[s].floor and (c := _ok(by, s, scenario))
    ]
    if peers:
        name, least = min(peers, key=lambda p: p[1])
        ahead = "yes" if mine["cpu_us_per_unit"] < least else "**no**"
        vs_peers = f"{_cpu(least)} ({label(name)}) | {ahead}"
    else:
        vs_peers = "- | -"
    p99 = "-" if ours["p99_ms"] is None else f"{ours['p99_ms']:.1f}"
    return (
        f"| {sc.title} | {mine['units_per_s']:,.0f} {sc.unit}/s | {p99} | "
        f"{_cpu(mine['cpu_us_per_unit'])} | {vs_nginx} | {vs_peers} | {ours['errors']} |"
    )


def tables(result: dict[str, Any], by: Cells, label: Callable[[str], str]) -> list[str]:
    """The hostile scenarios' targets table, and the slow clients' outcomes."""
    scenarios = [n for n in dict.fromkeys(s for (_, s) in by) if SCENARIOS[n].group == "hostile"]
    if not scenarios:
        return []
    servers = list(dict.fromkeys(v for (v, _) in by))
    lines = [
        "| pattern | CovetPy | p99 ms | CPU µs/unit | nginx CPU µs/unit | ÷ nginx "
        f"(target ≤ {NGINX_TARGET}) | least peer CPU µs/unit | CovetPy below every peer | "
        "errors |",
        "|---|---:|---:|---:|---:|---|---|---|---:|",
        *(_row(by, n, servers, label) for n in scenarios),
    ]
    if "upload-20m" in scenarios:
        rss = [
            f"{label(v)} {c['peak_rss_mb']:.0f} MB"
            for v in servers
            if (c := _ok(by, v, "upload-20m")) and c.get("peak_rss_mb") is not None
        ]
        lines += ["", "upload-20m peak RSS (4 uploads of 20 MiB at once): " + ", ".join(rss)]
    if "slow-mix" in scenarios:
        lines += ["", "slow-mix, what the slow clients met (last run):"]
        for v in servers:
            c = _ok(by, v, "slow-mix")
            if c and c.get("extra", {}).get("slow_clients"):
                lines.append(f"- {label(v)}: {slow.summary(c['extra']['slow_clients'])}")
    return lines
