"""The report of the hosted-app scenarios (issue 16): one table per hosted app (raw ASGI,
Starlette, FastAPI, Flask) with the four requests as columns and a server per row, CovetPy's
ratio to the best peer against the issue's target, and for FastAPI what mounting it behind
native routes costs in server CPU per request over FastAPI served alone by `covetpy run`.

CPU per request is the figure the mount target is about: requests/s of two cells 1 µs apart
(out of ~60 µs for FastAPI) differ by less than this shared VM's noise between runs, while
CPU time per request is what the mount adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benches.suite.scenarios import FRAMEWORKS, HOSTED_KINDS, SCENARIOS
from benches.suite.servers import HOSTED_APPS, SERVERS

__all__ = ["MOUNT", "MOUNT_BUDGET_US", "TARGETS", "tables"]

TARGETS: dict[str, tuple[float, str]] = {
    "asgi": (1.3, "the best peer"),
    "starlette": (1.2, "the best peer"),
    "fastapi": (1.2, "the best peer"),
    "flask": (1.3, "the best WSGI server"),
}
"""CovetPy's requests/s over the best peer's, per hosted app (issue 16)."""

MOUNT = "covetpy-mount"
MOUNT_BUDGET_US = 1.0
"""What the mount may add, in server CPU µs per request, over FastAPI served alone."""

Cells = dict[tuple[str, str], dict[str, Any]]


def _cpu(us: float) -> str:
    return f"{us:.2f}" if us < 1 else f"{us:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**short**"


def mount_cost(by: Cells, kind: str) -> float | None:
    """Server CPU µs per request of FastAPI mounted behind native routes minus FastAPI served
    alone by CovetPy, for one of the four requests (None when a cell is missing)."""
    mounted = by.get((MOUNT, f"fastapi-{kind}"))
    alone = by.get(("covetpy", f"fastapi-{kind}"))
    if not mounted or not alone or mounted["status"] != "ok" or alone["status"] != "ok":
        return None
    return float(mounted["server_cpu_us_per_request"] - alone["server_cpu_us_per_request"])


def _table(
    result: dict[str, Any], by: Cells, framework: str, label: Callable[[str], str]
) -> list[str]:
    names = [
        f"{framework}-{kind}" for kind in HOSTED_KINDS if f"{framework}-{kind}" in result["ratios"]
    ]
    servers = list(dict.fromkeys(s for (s, n) in by if n in names))
    servers = [s for s in servers if any(by[(s, n)]["status"] != "n/a" for n in names)]
    target, against = TARGETS[framework]
    lines = [
        f"**{FRAMEWORKS[framework]}** (`{HOSTED_APPS[framework]}`), target: CovetPy ≥ "
        f"x{target} {against}'s requests/s",
        "",
        "| requests/s (server CPU µs/req) | "
        + " | ".join(SCENARIOS[n].title.split(": ", 1)[1] for n in names)
        + " |",
        "|---|" + "---:|" * len(names),
    ]
    for server in servers:
        cells = []
        for name in names:
            s = by[(server, name)]
            if s["status"] == "ok":
                text = f"{s['requests_per_s']:,.0f} ({_cpu(s['server_cpu_us_per_request'])})"
                cells.append(f"**{text}**" if server == "covetpy" else text)
            else:
                cells.append("n/a" if s["status"] == "n/a" else s["status"])
        name = label(server)
        lines.append(
            f"| {'**' + name + '**' if server == 'covetpy' else name} | " + " | ".join(cells) + " |"
        )
    row = []
    for name in names:
        r = result["ratios"][name]
        if not r["ratio"]:
            row.append("-")
            continue
        row.append(
            f"x{r['ratio']:.2f} ({SERVERS[r['best_peer']].label}): {_verdict(r['ratio'] >= target)}"
        )
    lines.append(f"| CovetPy ÷ best peer (target ≥ {target}) | " + " | ".join(row) + " |")
    if framework == "fastapi" and MOUNT in servers:
        row = []
        for kind in HOSTED_KINDS:
            if f"fastapi-{kind}" not in names:
                continue
            cost = mount_cost(by, kind)
            row.append(
                "-" if cost is None else f"{cost:+.1f} µs: {_verdict(cost <= MOUNT_BUDGET_US)}"
            )
        lines.append(
            f"| mount cost: CPU µs/req mounted minus alone (target ≤ {MOUNT_BUDGET_US:g}) | "
            + " | ".join(row)
            + " |"
        )
    return lines


def _summary(result: dict[str, Any], by: Cells, frameworks: list[str]) -> list[str]:
    lines = ["Targets of issue 16:", ""]
    for framework in frameworks:
        target, against = TARGETS[framework]
        ratios = [
            r["ratio"]
            for kind in HOSTED_KINDS
            if (r := result["ratios"].get(f"{framework}-{kind}")) and r["ratio"]
        ]
        if not ratios:
            lines.append(f"- {FRAMEWORKS[framework]}: no ratio (a CovetPy or peer cell missing)")
            continue
        met = sum(r >= target for r in ratios)
        lines.append(
            f"- {FRAMEWORKS[framework]} ≥ x{target} {against}: x{min(ratios):.2f} to "
            f"x{max(ratios):.2f}, met in {met} of {len(ratios)} requests"
        )
    costs = [c for kind in HOSTED_KINDS if (c := mount_cost(by, kind)) is not None]
    if costs:
        met = sum(c <= MOUNT_BUDGET_US for c in costs)
        lines.append(
            f"- FastAPI mounted behind native routes ≤ {MOUNT_BUDGET_US:g} µs CPU/req over "
            f"FastAPI alone on CovetPy: {min(costs):+.1f} to {max(costs):+.1f} µs, met in "
            f"{met} of {len(costs)} requests"
        )
    return lines


def tables(result: dict[str, Any], by: Cells, label: Callable[[str], str]) -> list[str]:
    """The Markdown lines of the hosted-app tables and the targets, for the hosted-app
    scenarios present in `result`; `label` names a server with its version."""
    present = {SCENARIOS[n].hosted for (_, n) in by if SCENARIOS[n].hosted}
    frameworks = [f for f in FRAMEWORKS if f in present]
    lines: list[str] = []
    for framework in frameworks:
        lines += [*_table(result, by, framework, label), ""]
    return lines + _summary(result, by, frameworks)
