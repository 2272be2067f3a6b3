"""Turning cells into results: medians per cell, CovetPy's ratio to the best peer per
scenario, a table (console and Markdown), the JSON file and the PNG chart.

The chart is drawn by benches/suite/chart.py in the peers' venv (matplotlib is installed
there, with the peers, so the project's .venv stays free of it).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benches.suite import hosted, hostile, slow
from benches.suite.measure import Cell
from benches.suite.scenarios import SCENARIOS
from benches.suite.servers import PEERS_BIN, ROOT, SERVERS

__all__ = ["markdown", "ratios", "summarize", "write"]

RESULTS = ROOT / "benches" / "results"


def summarize(cell: Cell) -> dict[str, Any]:
    """The cell's medians over its runs (errors are summed: any error matters); latency
    percentiles are None where the scenario's wrk figures are not request latencies."""
    out: dict[str, Any] = {
        "server": cell.server,
        "scenario": cell.scenario,
        "status": cell.status,
        "reason": cell.reason,
    }
    if cell.status != "ok" or not cell.runs:
        return out

    def median(attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in cell.runs))

    out.update(
        requests_per_s=median("requests_per_s"),
        p50_ms=median("p50_ms"),
        p99_ms=median("p99_ms"),
        p999_ms=median("p999_ms"),
        errors=sum(r.error_count for r in cell.runs),
        server_cpu_us_per_request=median("server_cpu_us_per_request"),
        peak_rss_mb=cell.peak_rss_mb,
    )
    if not SCENARIOS[cell.scenario].latency:
        out.update(p50_ms=None, p99_ms=None, p999_ms=None)
    if cell.runs[-1].extra:
        out["extra"] = cell.runs[-1].extra
    if SCENARIOS[cell.scenario].unit != "request":
        out["unit"] = SCENARIOS[cell.scenario].unit
        out.update(hostile.unit_figures(cell.scenario, out))
    return out


def _cpu(us: float) -> str:
    """CPU µs per request; two decimals below 1 µs (a WebSocket delivery costs 0.2 to 0.5)."""
    return f"{us:.2f}" if us < 1 else f"{us:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratios(summaries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scenario: CovetPy's requests/s over the best peer's, and the server CPU time per
    request of CovetPy and of the peer that needs least (None when missing)."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in dict.fromkeys(s["scenario"] for s in summaries):
        ok = [s for s in summaries if s["scenario"] == scenario and s["status"] == "ok"]
        ours = next((s for s in ok if s["server"] == "covetpy"), None)
        # nginx is the floor shown beside the peers, never one CovetPy is ranked against.
        # CovetPy's other set-ups (the mount) are not its peers either.
        peers = [s for s in ok if not SERVERS[s["server"]].ours and not SERVERS[s["server"]].floor]
        best = max(peers, key=lambda s: s["requests_per_s"], default=None)
        ratio = None
        if ours and best and best["requests_per_s"]:
            ratio = ours["requests_per_s"] / best["requests_per_s"]
        frugal = min(peers, key=lambda s: s["server_cpu_us_per_request"], default=None)
        out[scenario] = {
            "covetpy_requests_per_s": ours["requests_per_s"] if ours else None,
            "best_peer": best["server"] if best else None,
            "best_peer_requests_per_s": best["requests_per_s"] if best else None,
            "ratio": ratio,
            "covetpy_cpu_us_per_request": ours["server_cpu_us_per_request"] if ours else None,
            "least_cpu_peer": frugal["server"] if frugal else None,
            "least_cpu_peer_us_per_request": (
                frugal["server_cpu_us_per_request"] if frugal else None
            ),
        }
    return out


def _label(server: str, versions: dict[str, dict[str, str | None]]) -> str:
    s = SERVERS[server]
    version = versions.get(server, {}).get(s.distributions[0])
    return f"{s.label} {version}" if version else s.label


def _cell_text(s: dict[str, Any]) -> str:
    if s["status"] == "n/a":
        return str(s["reason"])
    return f"{s['status']}: {s['reason']}"


def markdown(result: dict[str, Any]) -> str:
    """Markdown tables: requests/s per server and scenario with CovetPy's ratio to the best
    peer (the hosted-app scenarios in tables of their own, with their targets:
    benches/suite/hosted.py), then every measure of every cell."""
    summaries: list[dict[str, Any]] = result["cells"]
    scenarios = list(dict.fromkeys(s["scenario"] for s in summaries))
    servers = list(dict.fromkeys(s["server"] for s in summaries))
    by = {(s["server"], s["scenario"]): s for s in summaries}
    native = [n for n in scenarios if SCENARIOS[n].hosted is None]
    lines: list[str] = []
    if native:
        shown = [v for v in servers if any(by[(v, n)]["status"] != "n/a" for n in native)]
        lines += [*_native_table(result, native, shown, by), ""]
    hostile_lines = hostile.tables(result, by, lambda v: _label(v, result["versions"]))
    if hostile_lines:
        lines += ["Hostile connection patterns (issue 20):", "", *hostile_lines, ""]
    if len(native) < len(scenarios):
        lines += [*hosted.tables(result, by, lambda v: _label(v, result["versions"])), ""]
    lines += _every_cell(result, scenarios, servers, by)
    notes = [f"- {SERVERS[n].label}: {r}" for n, r in result["unavailable"].items()]
    if notes:
        lines += ["", "Unavailable:", *notes]
    return "\n".join(lines)


def _native_table(
    result: dict[str, Any],
    scenarios: list[str],
    servers: list[str],
    by: dict[tuple[str, str], dict[str, Any]],
) -> list[str]:
    versions = result["versions"]
    titles = [SCENARIOS[n].title for n in scenarios]
    lines = [
        "| requests/s | " + " | ".join(titles) + " |",
        "|---|" + "---:|" * len(scenarios),
    ]
    for server in servers:
        cells = []
        for scenario in scenarios:
            s = by[(server, scenario)]
            if s["status"] == "ok":
                text = f"{s['requests_per_s']:,.0f}"
                cells.append(f"**{text}**" if server == "covetpy" else text)
            else:
                cells.append("n/a" if s["status"] == "n/a" else s["status"])
        name = _label(server, versions)
        lines.append(f"| {'**' + name + '**' if server == 'covetpy' else name} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    row = []
    for scenario in scenarios:
        r = result["ratios"][scenario]
        row.append(f"x{r['ratio']:.2f} ({SERVERS[r['best_peer']].label})" if r["ratio"] else "-")
    lines.append("| CovetPy ÷ best peer (req/s) | " + " | ".join(row) + " |")
    row = []
    for scenario in scenarios:
        r = result["ratios"][scenario]
        if r["covetpy_cpu_us_per_request"] is None or r["least_cpu_peer"] is None:
            row.append("-")
            continue
        row.append(
            f"{_cpu(r['covetpy_cpu_us_per_request'])} / {_cpu(r['least_cpu_peer_us_per_request'])} "
            f"({SERVERS[r['least_cpu_peer']].label})"
        )
    lines.append("| server CPU µs/req: CovetPy / least peer | " + " | ".join(row) + " |")
    return lines


def _every_cell(
    result: dict[str, Any],
    scenarios: list[str],
    servers: list[str],
    by: dict[tuple[str, str], dict[str, Any]],
) -> list[str]:
    versions = result["versions"]
    lines = [
        "| scenario | server | req/s | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/req "
        "| peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        for server in servers:
            s = by[(server, scenario)]
            name = _label(server, versions)
            if s["status"] == "n/a" and SCENARIOS[scenario].hosted:
                continue  # most servers host one interface: their n/a rows would be most rows
            if s["status"] != "ok":
                lines.append(f"| {scenario} | {name} | {_cell_text(s)} |||||||")
                continue
            lines.append(
                f"| {scenario} | {name} | {s['requests_per_s']:,.0f} | {_ms(s['p50_ms'])} | "
                f"{_ms(s['p99_ms'])} | {_ms(s['p999_ms'])} | {s['errors']} | "
                f"{_cpu(s['server_cpu_us_per_request'])} | {s['peak_rss_mb']:.0f} |"
            )
    return lines


def console(summary: dict[str, Any]) -> str:
    """One progress line for a finished cell."""
    head = f"  {summary['scenario']:11} {summary['server']:19}"
    if summary["status"] != "ok":
        return f"{head} {_cell_text(summary)}"
    tail = ""
    if "unit" in summary:
        tail += (
            f"  = {summary['units_per_s']:,.1f} {summary['unit']}/s, "
            f"{_cpu(summary['cpu_us_per_unit'])} µs CPU/{summary['unit']}"
        )
    if summary.get("extra", {}).get("slow_clients"):
        tail += f"  [{slow.summary(summary['extra']['slow_clients'])}]"
    return (
        f"{head} {summary['requests_per_s']:>9,.0f} req/s  p50 {_ms(summary['p50_ms']):>6}  "
        f"p99 {_ms(summary['p99_ms']):>7}  p99.9 {_ms(summary['p999_ms']):>7} ms  "
        f"{_cpu(summary['server_cpu_us_per_request']):>6} µs CPU/req  "
        f"RSS {summary['peak_rss_mb']:5.0f} MB  errors {summary['errors']}{tail}"
    )


def write(result: dict[str, Any], cells: list[Cell], stamp: str, latest: bool) -> list[Path]:
    """Writes suite-<stamp>.json/.md/.png in benches/results (and latest.png when `latest`)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"suite-{stamp}"
    data = {**result, "runs": [asdict(c) for c in cells]}
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    md_path = base.with_suffix(".md")
    md_path.write_text(
        f"# Side by side: {result['date']}{' (quick run)' if result['quick'] else ''}\n\n"
        f"`{result['command']}` on {result['machine']['cpus']} x {result['machine']['cpu']}, "
        f"{result['machine']['platform']}\n\n{markdown(result)}\n"
    )
    written = [json_path, md_path]
    png = base.with_suffix(".png")
    chart = subprocess.run(
        [str(PEERS_BIN / "python"), "-m", "benches.suite.chart", str(json_path), str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if chart.returncode == 0:
        written.append(png)
        if latest:
            shutil.copyfile(png, RESULTS / "latest.png")
            written.append(RESULTS / "latest.png")
    else:
        print(f"no chart (matplotlib in benches/.venv?): {chart.stderr.strip()[-300:]}")
    return written
