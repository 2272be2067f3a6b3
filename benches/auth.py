"""Per-request cost of JWT authentication (issue 18): CovetPy's `JWTAuth` against no auth, and
a protected JSON route against FastAPI (an `HTTPBearer` + PyJWT dependency) and Litestar (its
own `JWTAuth`).

    .venv/bin/python -m benches.auth                          # everything, about 8 minutes
    .venv/bin/python -m benches.auth --algs HS256 --runs 1 --parts cpu
    flock /tmp/covetpy-build.lock cargo bench --bench jwt_verify   # the yardstick (part 4)

1. Keys and tokens, made fresh in a temporary directory with `cryptography` and PyJWT (in
   benches/.venv when this venv lacks PyJWT): an HS256 32-byte secret, an RS256 2048-bit key,
   an ES256 P-256 key; claims `iss`, `aud`, `sub`, `iat`, `exp` (in an hour) and `scope`. A
   second key of each kind signs the "bad" token every server must refuse with 401.
2. CPU per request, following benches/cpu_per_request.py: `covetpy run
   benches.apps.auth_covetpy:app --workers 1` pinned to CPU 0, wrk (one thread, 64
   connections, the token in a Lua `wrk.headers`) pinned to CPU 1; the server tree's
   user+system time from /proc around a timed run, divided by the answers. Variants, run
   interleaved `--runs` times (medians of the per-round differences): no auth layer (`/plain`,
   the request still carries an HS256 token), then per algorithm `/plain` (the token verified,
   the identity unused) and `/protected` (the handler takes the `Identity`).
3. Requests/s of `/protected` (one `--rps-seconds` run after 2 s of warm-up, same pinning):
   CovetPy, FastAPI on uvicorn and Litestar on uvicorn (httptools, uvloop, one worker), the
   same token, each server checked first (200 with the right body for the good token, 401
   for the bad one and for none).
4. The signature check alone: criterion's medians of `jsonwebtoken::decode` (and of the bare
   signature) from target/criterion, written by `cargo bench --bench jwt_verify`.

Targets (issue 18): HS256 adds <= 2 µs of server CPU per request; RS256 and ES256 add <= 1.2x
jsonwebtoken's own decode; the protected route >= 3x Litestar's and >= 5x FastAPI's req/s.
Writes benches/results/auth-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benches.suite import machine, venv
from benches.suite.measure import (
    TICKS,
    WRK_CPU,
    Options,
    cpu_seconds,
    free_port,
    measure_cell,
    process_tree,
    serve,
    start_covetpy,
    thread_cpu_seconds,
    wait_until_answers,
)
from benches.suite.scenarios import Scenario
from benches.suite.servers import PEERS_BIN, PROJECT_BIN, ROOT, Server

ISSUER = "https://id.bench.covetpy"
AUDIENCE = "covetpy-bench"
SUBJECT = "user-42"
ANSWER = {"sub": SUBJECT, "ok": True}
ALGORITHMS = ("HS256", "RS256", "ES256")
APP = "benches.apps.auth_covetpy:app"
CRITERION = ROOT / "target" / "criterion"
RESULTS = ROOT / "benches" / "results"
TARGETS = {"hs256_added_us": 2.0, "signature_ratio": 1.2, "vs_litestar": 3.0, "vs_fastapi": 5.0}

Keys = dict[str, dict[str, str]]
"""{alg: {"key": verifying key file, "token": good token, "bad": token of another key}}."""


class NotEnforced(RuntimeError):
    """The server answered 200 to a bad token: this build does not verify yet."""


def mint(directory: Path) -> Keys:
    """Writes a fresh key per algorithm into `directory` and signs the tokens (PyJWT)."""
    # PyJWT is a peer (benches/.venv), not a dependency of CovetPy's .venv: imported by name
    # so that the type check of this file passes in either venv.
    jwt: Any = importlib.import_module("jwt")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "iat": now,
        "exp": now + 3600,
        "scope": "orders:read orders:write",
    }

    def pair(alg: str) -> tuple[Any, bytes]:
        """(signing key, the bytes the servers verify with)."""
        if alg == "HS256":
            secret = secrets.token_urlsafe(24).encode()  # 32 ASCII bytes: a `str` for Litestar
            return secret, secret
        private: Any = (
            rsa.generate_private_key(65537, 2048)
            if alg == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return private, public

    keys: Keys = {}
    for alg in ALGORITHMS:
        signing, verifying = pair(alg)
        path = directory / f"{alg.lower()}.key"
        path.write_bytes(verifying)
        keys[alg] = {
            "key": str(path),
            "token": jwt.encode(claims, signing, algorithm=alg),
            "bad": jwt.encode(claims, pair(alg)[0], algorithm=alg),
        }
    (directory / "tokens.json").write_text(json.dumps(keys))
    return keys


def _mint_anywhere(directory: Path) -> Keys:
    if importlib.util.find_spec("jwt") is not None:
        return mint(directory)
    cmd = [str(PEERS_BIN / "python"), "-m", "benches.auth", "--mint", str(directory)]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return dict(json.loads((directory / "tokens.json").read_text()))


def _get(port: int, path: str, token: str | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_auth(port: int, path: str, good: str, bad: str | None) -> None:
    """The good token gets 200 and the answer; the bad one (if given) and none get 401."""
    status, body = _get(port, path, good)
    if status != 200 or json.loads(body) != ANSWER:
        raise RuntimeError(f"GET {path} with a good token: {status} {body[:200]!r}")
    if bad is None:
        return
    status, body = _get(port, path, bad)
    if status == 200:
        raise NotEnforced(f"GET {path} with a token signed by another key answered 200")
    for token, what in ((bad, "a bad token"), (None, "no token")):
        status, body = _get(port, path, token)
        if status != 401:
            raise RuntimeError(f"GET {path} with {what}: {status} {body[:200]!r}, not 401")


def _busy_seconds() -> float:
    """CPU time all CPUs spent busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_run(
    alg: str, path: str, keys: Keys, script: str, seconds: int, warmup: int
) -> dict[str, Any]:
    """One run of benches/cpu_per_request.py's method for a variant: requests/s, server CPU
    µs per request (and per thread name), non-2xx answers, and the CPU share other programs
    used meanwhile (the VM is shared)."""
    port = free_port()
    env = dict(os.environ, COVETPY_IO=os.environ.get("COVETPY_IO", "epoll"), BENCH_JWT_ALG=alg)
    if alg != "none":
        env["BENCH_JWT_KEY"] = keys[alg]["key"]
    server = start_covetpy(APP, port, [], env)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wait_until_answers(url)
        good = keys["HS256" if alg == "none" else alg]
        check_auth(port, path, good["token"], None if alg == "none" else good["bad"])
        wrk = ["taskset", "-c", WRK_CPU, "wrk", "-t1", "-c64", "-s", script]
        subprocess.run([*wrk, f"-d{warmup}s", url], check=True, capture_output=True)
        pids = process_tree(server.pid)
        before, threads_before = cpu_seconds(pids), thread_cpu_seconds(pids)
        busy_before, wrk_before = _busy_seconds(), _children_seconds()
        out = subprocess.run(
            [*wrk, f"-d{seconds}s", url], check=True, capture_output=True, text=True
        ).stdout
        threads = {n: t - threads_before.get(n, 0.0) for n, t in thread_cpu_seconds(pids).items()}
        cpu = cpu_seconds(pids) - before
        others = _busy_seconds() - busy_before - cpu - (_children_seconds() - wrk_before)
        lines = out.splitlines()
        requests = max(1, int(next(ln for ln in lines if "requests in" in ln).split()[0]))
        non_2xx = next((int(ln.split()[-1]) for ln in lines if "Non-2xx" in ln), 0)
        return {
            "requests_per_s": requests / seconds,
            "cpu_us_per_request": cpu / requests * 1e6,
            "cpu_us_per_thread": {n: t / requests * 1e6 for n, t in threads.items() if t > 0},
            "non_2xx": non_2xx,
            "other_cpu_share": max(0.0, others) / seconds,
        }
    finally:
        server.terminate()
        server.wait(30)


def _script(directory: Path, alg: str, token: str) -> str:
    path = directory / f"bearer-{alg.lower()}.lua"
    path.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return str(path)


def cpu_part(
    algs: list[str],
    keys: Keys,
    scratch: Path,
    runs: int,
    seconds: int,
    warmup: int,
    max_other: float,
) -> dict[str, Any]:
    """Part 2: every variant `runs` times, interleaved; medians, and the added µs against no
    auth as the median of each round's difference (drift on the VM hits a round alike)."""
    variants = [("none", "/plain")] + [(a, p) for a in algs for p in ("/plain", "/protected")]
    rounds: list[dict[str, dict[str, Any]]] = []
    for i in range(runs):
        this: dict[str, dict[str, Any]] = {}
        for alg, path in variants:
            name = f"{alg} {path}"
            token = keys["HS256" if alg == "none" else alg]["token"]
            script = _script(scratch, alg, token)
            this[name] = _least_disturbed(
                lambda: cpu_run(alg, path, keys, script, seconds, warmup),  # noqa: B023
                max_other,
            )
            r = this[name]
            print(
                f"cpu run {i + 1}: {name:18} {r['requests_per_s']:>9,.0f} req/s  "
                f"{r['cpu_us_per_request']:6.2f} µs CPU/req  non-2xx {r['non_2xx']}  "
                f"other load {100 * r['other_cpu_share']:.0f} %",
                flush=True,
            )
        rounds.append(this)
    summary: dict[str, dict[str, Any]] = {}
    for alg, path in variants:
        name = f"{alg} {path}"
        runs_of = [r[name] for r in rounds]
        row: dict[str, Any] = {
            "requests_per_s": statistics.median(r["requests_per_s"] for r in runs_of),
            "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in runs_of),
            "cpu_us_min_max": [
                min(r["cpu_us_per_request"] for r in runs_of),
                max(r["cpu_us_per_request"] for r in runs_of),
            ],
            "cpu_us_per_thread": {
                t: statistics.median(r["cpu_us_per_thread"].get(t, 0.0) for r in runs_of)
                for t in sorted({t for r in runs_of for t in r["cpu_us_per_thread"]})
            },
            "non_2xx": sum(r["non_2xx"] for r in runs_of),
            "other_cpu_share": statistics.median(r["other_cpu_share"] for r in runs_of),
        }
        if alg != "none":
            row["added_us"] = statistics.median(
                r[name]["cpu_us_per_request"] - r["none /plain"]["cpu_us_per_request"]
                for r in rounds
            )
        summary[name] = row
    return {"rounds": rounds, "summary": summary}


def _servers(alg: str, key: str) -> list[Server]:
    def env(port: int, scenario: Scenario) -> dict[str, str]:
        return {
            "BENCH_JWT_ALG": alg,
            "BENCH_JWT_KEY": key,
            "COVETPY_STANDBY": "0",
            "COVETPY_IO": os.environ.get("COVETPY_IO", "epoll"),
        }

    def covetpy(port: int, scenario: Scenario) -> list[str]:
        return [str(PROJECT_BIN / "covetpy"), "run", APP, "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--log-level", "warning"]  # fmt: skip

    def uvicorn(app: str) -> Any:
        def command(port: int, scenario: Scenario) -> list[str]:
            return [str(PEERS_BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "1", "--http", "httptools", "--loop", "uvloop", "--ws", "none",
                    "--no-access-log", "--log-level", "warning"]  # fmt: skip

        return command

    return [
        Server("covetpy", "CovetPy JWTAuth", ("covetpy",), ("covetpy",), covetpy,
               python=PROJECT_BIN / "python", env=env),
        Server("fastapi", "FastAPI + PyJWT (uvicorn)", ("fastapi", "pyjwt", "uvicorn"),
               ("fastapi", "jwt"), uvicorn("benches.peers.auth_fastapi:app"), env=env),
        Server("litestar", "Litestar JWTAuth (uvicorn)", ("litestar", "pyjwt", "uvicorn"),
               ("litestar", "jwt"), uvicorn("benches.peers.auth_litestar:app"), env=env),
    ]  # fmt: skip


def _our_seconds() -> float:
    """CPU time of this process and of its waited-for children (wrk, the stopped servers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def rps_cell(
    server: Server, scenario: Scenario, token: str, bad: str, opts: Options
) -> dict[str, Any]:
    """One cell of part 3: the server checked (200, 401, 401), then measured by the suite's
    `measure_cell`, with the share of a CPU other programs used over the whole cell."""
    cell: dict[str, Any] = {"server": server.name, "label": server.label}
    started, busy, ours = time.monotonic(), _busy_seconds(), _our_seconds()
    try:
        with serve(server, scenario, pin=True) as served:
            check_auth(served.port, scenario.path, token, bad)
    except (RuntimeError, OSError, ValueError) as exc:
        if isinstance(exc, NotEnforced):
            raise
        return {**cell, "status": "failed", "reason": str(exc)[:400], "other_cpu_share": 0.0}
    measured = measure_cell(server, scenario, opts)
    # Every process this bench started has been waited for by now: what the CPUs did beyond
    # them and this process is other programs' load (the VM is shared).
    others = _busy_seconds() - busy - (_our_seconds() - ours)
    cell.update(
        status=measured.status,
        reason=measured.reason,
        command=measured.command,
        other_cpu_share=max(0.0, others) / (time.monotonic() - started),
    )
    if measured.runs:
        run = measured.runs[0]
        cell.update(
            requests_per_s=run.requests_per_s,
            p50_ms=run.p50_ms,
            p99_ms=run.p99_ms,
            errors=run.errors,
            cpu_us_per_request=run.server_cpu_us_per_request,
            server_cpu_share=run.server_cpu_s / run.seconds,
        )
    return cell


def rps_part(
    algs: list[str], keys: Keys, seconds: int, warmup: int, max_other: float
) -> list[dict[str, Any]]:
    """Part 3: req/s of `/protected` per algorithm and server, one counted run each (done
    once more if other programs used more than `max_other` of a CPU meanwhile)."""
    opts = Options(duration=seconds, warmup=warmup, runs=1, pin=True)
    cells: list[dict[str, Any]] = []
    for alg in algs:
        token = keys[alg]["token"]
        scenario = Scenario(
            f"protected-{alg}",
            f"GET /protected, {alg} bearer token",
            "/protected",
            lua=f'wrk.headers["Authorization"] = "Bearer {token}"\n',
            expect=ANSWER,
            headers={"Authorization": f"Bearer {token}"},
        )
        for server in _servers(alg, keys[alg]["key"]):
            cell = _least_disturbed(
                lambda: rps_cell(server, scenario, token, keys[alg]["bad"], opts),  # noqa: B023
                max_other,
            )
            cells.append({"alg": alg, **cell})
            if not cell.get("requests_per_s"):
                print(f"rps {alg} {server.name}: {cell['status']}: {cell['reason']}", flush=True)
                continue
            print(
                f"rps {alg} {server.name:9} {cell['requests_per_s']:>9,.0f} req/s  "
                f"{cell['cpu_us_per_request']:6.1f} µs CPU/req  server CPU "
                f"{100 * cell['server_cpu_share']:.0f} %  p99 {cell['p99_ms']:.2f} ms  "
                f"errors {sum(cell['errors'].values())}  "
                f"other load {100 * cell['other_cpu_share']:.0f} %",
                flush=True,
            )
    return cells


def _least_disturbed(measure: Callable[[], dict[str, Any]], max_other: float) -> dict[str, Any]:
    """`measure()`, done once more when other programs used more than `max_other` of a CPU
    meanwhile; the less disturbed attempt is kept, the other recorded in it."""
    first = measure()
    if first.get("other_cpu_share", 0.0) <= max_other:
        return first
    second = measure()
    kept, dropped = sorted((first, second), key=lambda r: r.get("other_cpu_share", 0.0))
    return {**kept, "discarded": dropped}


def criterion_medians() -> dict[str, dict[str, float]]:
    """{group: {alg: median µs}} from `cargo bench --bench jwt_verify`'s last results."""
    out: dict[str, dict[str, float]] = {}
    for group in ("jwt_decode", "jwt_signature"):
        for alg in ALGORITHMS:
            estimates = CRITERION / group / alg / "new" / "estimates.json"
            if estimates.exists():
                ns = json.loads(estimates.read_text())["median"]["point_estimate"]
                out.setdefault(group, {})[alg] = ns / 1000
    return out


def targets(
    cpu: dict[str, Any] | None, rps: list[dict[str, Any]], crit: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each target the measured figures allow to check: the figure, the bar, met or not."""
    out: list[dict[str, Any]] = []
    summary = cpu["summary"] if cpu else {}
    # Both routes: /plain is the verification alone, /protected adds handing the identity
    # to the handler (what an application pays).
    for path in ("/plain", "/protected"):
        if f"HS256 {path}" in summary:
            added = summary[f"HS256 {path}"]["added_us"]
            out.append(
                {
                    "target": f"HS256 adds <= 2 µs of server CPU per request ({path})",
                    "measured": f"{added:+.2f} µs",
                    "met": added <= TARGETS["hs256_added_us"],
                }
            )
        for alg in ("RS256", "ES256"):
            alone = crit.get("jwt_decode", {}).get(alg)
            if f"{alg} {path}" in summary and alone:
                added = summary[f"{alg} {path}"]["added_us"]
                ratio = added / alone
                out.append(
                    {
                        "target": f"{alg} adds <= 1.2x jsonwebtoken's decode ({path})",
                        "measured": f"x{ratio:.2f} ({added:.2f} vs {alone:.2f} µs)",
                        "ratio": ratio,
                        "met": ratio <= TARGETS["signature_ratio"],
                    }
                )
    by = {(c["alg"], c["server"]): c for c in rps if c.get("requests_per_s")}
    for alg in ALGORITHMS:
        ours = by.get((alg, "covetpy"))
        for peer, bar in (("litestar", TARGETS["vs_litestar"]), ("fastapi", TARGETS["vs_fastapi"])):
            theirs = by.get((alg, peer))
            if ours and theirs:
                ratio = ours["requests_per_s"] / theirs["requests_per_s"]
                out.append(
                    {
                        "target": f"{alg} /protected req/s >= {bar:g}x {theirs['label']}",
                        "measured": f"x{ratio:.2f}",
                        "ratio": ratio,
                        "met": ratio >= bar,
                    }
                )
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rps_cell(row: dict[str, dict[str, Any]], server: str) -> str:
    c = row.get(server, {})
    if not c.get("requests_per_s"):
        return str(c.get("status", "-"))
    return f"{c['requests_per_s']:,.0f} ({c['cpu_us_per_request']:.1f})"


def _shares(row: dict[str, dict[str, Any]]) -> str:
    return " / ".join(
        f"{100 * row[n]['server_cpu_share']:.0f} %"
        if row.get(n, {}).get("server_cpu_share")
        else "-"
        for n in ("covetpy", "fastapi", "litestar")
    )


def _rps_ratio(row: dict[str, dict[str, Any]], peer: str) -> str:
    ours, theirs = row.get("covetpy", {}), row.get(peer, {})
    if not (ours.get("requests_per_s") and theirs.get("requests_per_s")):
        return "-"
    return f"{ours['requests_per_s'] / theirs['requests_per_s']:.2f}"


def tables(cpu: dict[str, Any] | None, rps: list[dict[str, Any]], crit: dict[str, Any]) -> str:
    """The markdown tables of the three parts that ran."""
    out: list[str] = []
    if cpu:
        out += [
            "CPU per request, `benches.apps.auth_covetpy:app` (medians)",
            "",
            "| variant | req/s | server CPU µs/req (runs) | added vs no auth | python thread "
            "| other threads | non-2xx | other load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, s in cpu["summary"].items():
            lo, hi = s["cpu_us_min_max"]
            py = s["cpu_us_per_thread"].get("python", 0.0)
            rest = sum(us for t, us in s["cpu_us_per_thread"].items() if t != "python")
            label = "no auth (/plain)" if name.startswith("none") else name
            out.append(
                f"| {label} | {s['requests_per_s']:,.0f} | {s['cpu_us_per_request']:.2f} "
                f"({lo:.2f}-{hi:.2f}) | {_fmt(s.get('added_us'), '+.2f')} | {py:.2f} | "
                f"{rest:.2f} | {s['non_2xx']} | {100 * s['other_cpu_share']:.0f} % |"
            )
        out.append("")
    if crit or cpu:
        out += [
            "Added CPU against jsonwebtoken alone (criterion medians, `cargo bench --bench "
            "jwt_verify`)",
            "",
            "| alg | decode alone µs | signature alone µs | added, /plain µs | added, "
            "/protected µs | /protected ÷ decode |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        summary = cpu["summary"] if cpu else {}
        for alg in ALGORITHMS:
            decode = crit.get("jwt_decode", {}).get(alg)
            plain = summary.get(f"{alg} /plain", {}).get("added_us")
            protected = summary.get(f"{alg} /protected", {}).get("added_us")
            ratio = protected / decode if protected is not None and decode else None
            out.append(
                f"| {alg} | {_fmt(decode, '.2f')} | "
                f"{_fmt(crit.get('jwt_signature', {}).get(alg), '.2f')} | "
                f"{_fmt(plain, '+.2f')} | {_fmt(protected, '+.2f')} | "
                f"{_fmt(ratio, '.2f')} |"
            )
        out.append("")
    if rps:
        out += [
            "GET /protected, req/s (server CPU µs per request), one worker on CPU 0, wrk -c64 "
            "on CPU 1",
            "",
            "| alg | CovetPy JWTAuth | FastAPI + PyJWT | Litestar JWTAuth | x FastAPI | "
            "x Litestar | server CPU (C / F / L) | other load (max) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for alg in ALGORITHMS:
            row = {c["server"]: c for c in rps if c["alg"] == alg}
            if row:
                out.append(
                    f"| {alg} | {_rps_cell(row, 'covetpy')} | {_rps_cell(row, 'fastapi')} | "
                    f"{_rps_cell(row, 'litestar')} | {_rps_ratio(row, 'fastapi')} | "
                    f"{_rps_ratio(row, 'litestar')} | {_shares(row)} | "
                    f"{100 * max(c.get('other_cpu_share', 0.0) for c in row.values()):.0f} % |"
                )
    return "\n".join(out)


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benches.auth", description=__doc__)
    p.add_argument("--algs", default=",".join(ALGORITHMS), help="comma list (default: all)")
    p.add_argument("--parts", default="cpu,rps", help="cpu, rps or both (default: cpu,rps)")
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds of the CPU part")
    p.add_argument("--seconds", type=int, default=8, help="seconds per CPU run (default: 8)")
    p.add_argument("--rps-seconds", type=int, default=10, help="seconds per req/s run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="do a run once more when other programs used more than this share of a CPU "
        "meanwhile (from /proc/stat; the VM is shared) (default: 0.25)",
    )
    p.add_argument("--mint", help=argparse.SUPPRESS)  # run in benches/.venv by _mint_anywhere
    args = p.parse_args(argv)
    args.algs = [a.strip() for a in args.algs.split(",") if a.strip()]
    args.parts = {a.strip() for a in args.parts.split(",") if a.strip()}
    if unknown := [a for a in args.algs if a not in ALGORITHMS]:
        p.error(f"unknown algorithms: {', '.join(unknown)} (known: {', '.join(ALGORITHMS)})")
    return args


def main(argv: list[str]) -> int:
    args = _args(argv)
    if args.mint:
        mint(Path(args.mint))
        return 0
    venv.ensure()
    desc = machine.describe()
    date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    command = " ".join(["python -m benches.auth", *argv])
    header = (
        f"{date}; {desc['cpus']} x {desc['cpu']}, {desc['platform']}; CovetPy "
        f"{desc['covetpy_commit']}{' (dirty tree)' if desc['covetpy_tree_dirty'] else ''}"
        f"; load average {os.getloadavg()[0]:.2f}\n{command}"
    )
    print(header, flush=True)
    crit = criterion_medians()
    if not crit:
        print("no criterion results: run `cargo bench --bench jwt_verify` for part 4")
    cpu: dict[str, Any] | None = None
    rps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        keys = _mint_anywhere(Path(tmp))
        try:
            if "cpu" in args.parts:
                cpu = cpu_part(
                    args.algs,
                    keys,
                    Path(tmp),
                    args.runs,
                    args.seconds,
                    args.warmup,
                    args.max_other_load,
                )
            if "rps" in args.parts:
                rps = rps_part(args.algs, keys, args.rps_seconds, args.warmup, args.max_other_load)
        except NotEnforced as exc:
            print(
                f"{exc}: this build does not verify tokens yet (rebuild: "
                "flock /tmp/covetpy-build.lock make dev)"
            )
            return 3
    checks = targets(cpu, rps, crit)
    text = tables(cpu, rps, crit)
    print(f"\n{header}\n\n{text}\n\n| target | measured | met |\n|---|---|---|")
    for t in checks:
        print(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"auth-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    peers = {
        n: venv.versions(PEERS_BIN / "python", [n, "pyjwt", "uvicorn"])
        for n in ("fastapi", "litestar")
    }
    out.write_text(
        json.dumps(
            {
                "date": date,
                "command": command,
                "options": vars(args) | {"parts": sorted(args.parts)},
                "machine": {**desc, "load_average_at_end": os.getloadavg()},
                "peers": peers,
                "criterion_us": crit,
                "cpu": cpu,
                "rps": rps,
                "targets": checks,
                "tables_markdown": text,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
