"""What a server's whole process tree costs the machine at idle: `covetpy run
examples.hello:app --workers N` for N = 1, 2, 4, and beside it the peers serving their hello
app with one worker (adrs/0020).

    .venv/bin/python benches/process_tree.py [--workers 1,2,4] [--standby auto]
        [--peers nginx,socketify,peregrine-asgi,granian-rsgi,h2corn-asgi]
        [--requests 300] [--settle 2]

Each server is started, waited for until it answers, sent `--requests` GETs (one new
connection each, so every worker of a tree serves some), left alone `--settle` seconds, then
every process of its tree is read from /proc/PID/smaps_rollup:

- PSS: the tree's cost to the machine (a page shared by k processes counts 1/k in each, so the
  sum counts shared pages, the interpreter's and the libraries' text, once);
- RSS: what `ps` and most dashboards show (shared pages counted in every process);
- USS: Private_Clean + Private_Dirty, what killing that one process would give back.

"per further worker" is (tree(N) - tree(1)) / (N - 1). The peers' commands come from
benches/suite/servers.py (plaintext app, their own venv benches/.venv); nginx runs with its
master process and one worker, as it is deployed. Writes benches/results/process-tree-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.startup import free_port
from benches.suite.machine import describe
from benches.suite.measure import process_tree
from benches.suite.scenarios import SCENARIOS
from benches.suite.servers import PROJECT_BIN, SERVERS

ROOT = Path(__file__).resolve().parent.parent
APP = "examples.hello:app"
PEERS = ("nginx", "socketify", "peregrine-asgi", "granian-rsgi", "h2corn-asgi")


@dataclass
class Proc:
    pid: int
    role: str
    rss_kb: int
    pss_kb: int
    uss_kb: int


@dataclass
class Tree:
    server: str
    workers: int
    command: list[str]
    processes: list[Proc] = field(default_factory=list)

    def total(self, what: str) -> int:
        return sum(int(getattr(p, what)) for p in self.processes)


def smaps(pid: int) -> tuple[int, int, int]:
    """(RSS, PSS, USS) of `pid` in kB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields["Rss"], fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def get(port: int, path: str) -> int:
    """One GET on a new connection; the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def wait_answers(proc: subprocess.Popen[bytes], port: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before answering")
        try:
            if get(port, path) == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer on port {port} after {timeout} s")
        time.sleep(0.05)


def measure(
    name: str,
    command: list[str],
    port: int,
    path: str,
    args: argparse.Namespace,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    roles: dict[int, str] | None = None,
) -> Tree:
    """Starts `command`, loads it, lets it settle and reads its tree."""
    log: list[str] = []
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line.decode(errors="replace"))

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_answers(proc, port, path)
        for _ in range(args.requests):
            get(port, path)
        time.sleep(args.settle)  # idle: what the tree keeps, not what a request holds
        tree = Tree(name, workers, command)
        text = "".join(log)
        standby = {int(p) for p in re.findall(r"worker (\d+) standing by", text)}
        serving = {int(p) for p in re.findall(r"worker (\d+) serving on", text)}
        for i, pid in enumerate(process_tree(proc.pid)):  # the root first
            try:
                rss, pss, uss = smaps(pid)
            except (OSError, KeyError):
                continue  # gone meanwhile, or a zombie (its smaps_rollup is empty)
            if name == "covetpy":
                role = "supervisor" if i == 0 else "standby" if pid in standby else "worker"
                role = role if i == 0 or pid in standby | serving else "other"
            else:
                role = "main" if i == 0 else "worker"
            tree.processes.append(Proc(pid, role, rss, pss, uss))
        return tree
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()


def covetpy(n: int, args: argparse.Namespace) -> Tree:
    port = free_port()
    command = [
        str(PROJECT_BIN / "covetpy"), "run", APP, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(n), "--standby", args.standby,
    ]  # fmt: skip
    return measure("covetpy", command, port, "/", args, workers=n)


def peer(name: str, args: argparse.Namespace) -> Tree:
    server = SERVERS[name]
    scenario = SCENARIOS["plaintext"]
    port = free_port()
    command = server.command(port, scenario)
    if name == "nginx":
        # The suite runs nginx as one process; deployed, it is a master and its workers.
        conf = Path(command[command.index("-c") + 1])
        conf.write_text(conf.read_text().replace("master_process off;", "master_process on;"))
    return measure(name, command, port, scenario.path, args, env=server.env(port, scenario))


def mb(kb: float) -> str:
    return f"{kb / 1024:6.1f}"


def show(tree: Tree) -> None:
    print(f"{tree.server} ({tree.workers} worker(s)): {' '.join(tree.command[:3])} ...")
    for p in tree.processes:
        print(
            f"  {p.role:10} {p.pid:>7}  RSS {mb(p.rss_kb)}  PSS {mb(p.pss_kb)}  USS {mb(p.uss_kb)}"
        )
    print(
        f"  {'tree':10} {'':>7}  RSS {mb(tree.total('rss_kb'))}  PSS {mb(tree.total('pss_kb'))}"
        f"  USS {mb(tree.total('uss_kb'))}  (MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="covetpy worker counts")
    parser.add_argument("--standby", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--peers", default=",".join(PEERS), help="'' for none")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    trees = []
    for n in counts:
        trees.append(covetpy(n, args))
        show(trees[-1])
    further: dict[str, dict[str, float]] = {}
    base = next((t for t in trees if t.workers == 1), None)
    for t in trees:
        if base is not None and t.workers > 1:
            further[str(t.workers)] = {
                what: (t.total(what) - base.total(what)) / (t.workers - 1) / 1024
                for what in ("rss_kb", "pss_kb", "uss_kb")
            }
            f = further[str(t.workers)]
            print(
                f"per further worker (N={t.workers}): RSS {f['rss_kb']:.1f}  "
                f"PSS {f['pss_kb']:.1f}  USS {f['uss_kb']:.1f} MB"
            )
    peers = []
    for name in [p for p in args.peers.split(",") if p]:
        try:
            peers.append(peer(name, args))
            show(peers[-1])
        except (RuntimeError, OSError) as exc:  # not installed here, or failed to start
            print(f"{name}: not measured ({exc})")
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": describe(),
        "requests": args.requests,
        "settle_s": args.settle,
        "trees": [
            {
                **{k: v for k, v in asdict(t).items() if k != "processes"},
                "processes": [asdict(p) for p in t.processes],
                "rss_mb": t.total("rss_kb") / 1024,
                "pss_mb": t.total("pss_kb") / 1024,
                "uss_mb": t.total("uss_kb") / 1024,
            }
            for t in [*trees, *peers]
        ],
        "per_further_worker_mb": {
            n: {k.removesuffix("_kb"): v for k, v in f.items()} for n, f in further.items()
        },
    }
    results = ROOT / "benches" / "results"
    out = results / f"process-tree-{time.strftime('%Y%m%dT%H%M%S')}.json"
    with tempfile.NamedTemporaryFile("w", dir=results, delete=False) as f:
        json.dump(result, f, indent=2)
    os.replace(f.name, out)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
