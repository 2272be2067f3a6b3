"""The PNG chart of a suite result: one panel per scenario, requests/s per server (labelled
with the server's CPU time per request, the figure load on the machine cannot distort),
CovetPy in its own colour, with its ratio to the best peer in the panel's title.

    benches/.venv/bin/python -m benches.suite.chart RESULT.json OUT.png

Runs in the peers' venv, where matplotlib is installed (benches/peers/requirements.txt).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

OURS, PEER = "#c0392b", "#5b7fa6"


def _label(result: dict[str, Any], server: str) -> str:
    info = result["servers"][server]
    version = info["versions"].get(info["distributions"][0])
    return f"{info['label']} {version}" if version else info["label"]


def _rate(v: float) -> str:
    """`3.26M`, `110.8k` or `950`: millions appear in the WebSocket broadcast panel."""
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def draw(result: dict[str, Any], out: str) -> None:
    """Writes the chart of `result` (a suite JSON document) to `out`."""
    cells = result["cells"]
    scenarios = list(dict.fromkeys(c["scenario"] for c in cells))
    servers = list(dict.fromkeys(c["server"] for c in cells))
    by = {(c["server"], c["scenario"]): c for c in cells}
    cols = min(4, len(scenarios))
    rows = math.ceil(len(scenarios) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 0.42 * len(servers) * rows + 2.2), squeeze=False
    )
    labels = [_label(result, s) for s in servers]
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        values, notes = [], []
        for server in servers:
            c = by[(server, scenario)]
            if c["status"] == "ok":
                v = c["requests_per_s"]
                rate = _rate(v)
                values.append(v)
                cpu = c["server_cpu_us_per_request"]
                # A WebSocket delivery costs 0.2 to 0.5 µs: decimals tell those apart.
                digits = 2 if cpu < 1 else 1 if cpu < 10 else 0
                notes.append(f"{rate} · {cpu:.{digits}f} µs")
            else:
                values.append(0.0)
                notes.append("n/a" if c["status"] == "n/a" else c["status"])
        y = range(len(servers))
        # "ours" marks CovetPy's set-ups (the mount too); results before it only had "covetpy".
        colours = [
            OURS if result["servers"][s].get("ours", s == "covetpy") else PEER for s in servers
        ]
        ax.barh(list(y), values, color=colours)
        top = max(values) or 1.0
        for i, (v, note) in enumerate(zip(values, notes, strict=True)):
            ax.text(v + top * 0.01, i, note, va="center", fontsize=7.5)
        ax.set_xlim(0, top * 1.38)
        ax.set_yticks(list(y), labels if ax in axes[:, 0] else [""] * len(servers), fontsize=8)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _, big=top >= 1e6: f"{x / 1e6:g}M" if big else f"{x / 1000:g}k")
        )
        ax.grid(axis="x", alpha=0.3)
        r = result["ratios"][scenario]
        ours = by.get(("covetpy", scenario))
        if r["ratio"]:
            ratio = f"CovetPy x{r['ratio']:.2f} the best peer"
        elif ours is not None and ours["status"] != "ok":
            ratio = f"CovetPy: {ours['reason'] if ours['status'] == 'n/a' else ours['status']}"
        else:
            ratio = "no ratio"
        ax.set_title(f"{result['scenarios'][scenario]['title']}\n{ratio}", fontsize=9)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.axis("off")
    m = result["machine"]
    opts = result["options"]
    kind = "QUICK RUN, " if result["quick"] else ""
    fig.suptitle(
        "Requests/s · server CPU µs per request; one worker per server pinned to CPU 0, "
        "wrk (covetpy bench for WS) pinned to CPU 1 (loopback)\n"
        f"{result['date']} · {kind}medians of {opts['runs']} x {opts['duration']:g} s "
        f"after {opts['warmup']:g} s warm-up · {m['cpus']} x {m['cpu']} · "
        f"`{result['command']}`",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        draw(json.load(f), sys.argv[2])
