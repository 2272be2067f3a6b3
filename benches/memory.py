"""RSS growth of a worker over many requests: warm up, note RSS, send N more requests with
`covetpy bench`, note RSS again (and once more after the run, to see what is returned).

    .venv/bin/python benches/memory.py [--app examples.hello:app] [--path /] [-n 1000000]

With `--tree` (the rest of the arguments are benches/process_tree.py's): the idle memory of
the whole process tree (supervisor, workers, standby) as PSS, RSS and USS, for 1, 2 and 4
workers and beside the peers (`make bench-memory`).

    .venv/bin/python -m benches.memory --tree [--workers 1,2,4] [--peers ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from benches.startup import free_port, rss_mb

ROOT = Path(__file__).resolve().parent.parent
COVETPY = str(ROOT / ".venv" / "bin" / "covetpy")


def bench(url: str, n: int) -> None:
    subprocess.run(
        ["taskset", "-c", "1", COVETPY, "bench", url, "-c", "64", "-n", str(n), "--quiet"],
        check=True,
        capture_output=True,
        timeout=600,
    )


def main() -> None:
    if "--tree" in sys.argv:
        from benches import process_tree

        sys.argv.remove("--tree")
        process_tree.main()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="examples.hello:app")
    parser.add_argument("--path", default="/")
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=100_000)
    args = parser.parse_args()
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", COVETPY, "run", args.app, "--port", str(port)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        worker = None
        for line in proc.stderr:
            m = re.search(r"worker (\d+) serving", line)
            if m:
                worker = int(m.group(1))
                break
        assert worker is not None
        url = f"http://127.0.0.1:{port}{args.path}"
        idle = rss_mb(worker)
        bench(url, args.warmup)
        warm = rss_mb(worker)
        start = time.monotonic()
        bench(url, args.n)
        after = rss_mb(worker)
        result = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "requests": args.n,
            "idle_rss_mb": idle,
            "after_warmup_rss_mb": warm,
            "after_run_rss_mb": after,
            "growth_mb": after - warm,
            "seconds": time.monotonic() - start,
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    for k, v in result.items():
        print(f"{k:22} {v}")
    out = ROOT / "benches" / "results" / f"memory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
