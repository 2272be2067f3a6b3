"""What each scenario asks of every server: the request (path, method, body), the number of
keep-alive connections, the wrk Lua that shapes the load, and the answer a server must give
before it is measured (so every server provably does the same work). The WebSocket
scenarios (`ws-*`) are driven by `covetpy bench ws://…` instead of wrk (benches/suite/ws.py);
their `path` is only the HTTP request that checks the server is up.

The hosted-app scenarios (`asgi-*`, `starlette-*`, `fastapi-*`, `flask-*`, issue 16) ask the
same four requests as plaintext, json, params and post of an existing ASGI or WSGI app, the same
app module on every server that hosts it (benches/suite/servers.py, `HOSTED_APPS`). They are
not in the default run: `--scenarios hosted` selects all of them.

The hostile scenarios (issue 20: many connections, a new connection per request, heads cut
into 8-byte segments, a streamed 20 MiB upload, gzip, slow clients beside normal ones) are in
`HOSTILE` below, each with why its numbers are what they are; `--scenarios hostile` selects
them (not in the default run: the upload and the slow clients alone take minutes)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass, field

from benches.peers.payloads import JSON_10K, UPLOAD_BYTES

__all__ = [
    "DEFAULT_SCENARIOS",
    "FRAMEWORKS",
    "GROUPS",
    "HOSTED_KINDS",
    "HOSTILE",
    "LUA_PIPELINE",
    "POST_BODY",
    "SCENARIOS",
    "Scenario",
    "WsLoad",
]

HELLO = b"Hello, World!"
CONNECTIONS = 64
PIPELINE_DEPTH = 16


def _post_body() -> bytes:
    tags = ",".join(f'"tag-number-{i:02d}"' for i in range(1, 41))
    description = "a fine pen " * 27
    return (
        f'{{"name":"fountain pen","price":12.5,"quantity":3,'
        f'"description":"{description}","tags":[{tags}]}}'
    ).encode()


POST_BODY = _post_body()
"""About 1 KB of JSON: the fields of `benches.peers.item.Item`, 40 tags."""


@dataclass(frozen=True)
class WsLoad:
    """A WebSocket load: the socket path and the `covetpy bench` options that shape it."""

    path: str
    options: tuple[str, ...]
    unit: str
    """What one counted message is: "message" (an echo) or "delivery" (to one subscriber)."""


@dataclass(frozen=True)
class Scenario:
    """One cell column of the table."""

    name: str
    title: str
    path: str
    method: str = "GET"
    body: bytes = b""
    connections: int = CONNECTIONS
    lua: str = ""
    """wrk Lua run before the suite's own `done()` hook (benches/suite/measure.py)."""
    middleware: bool = False
    """Served by the app variant with five pass-through middlewares."""
    expect: bytes | dict[str, object] = HELLO
    """The body every server must answer (a dict: compared as parsed JSON)."""
    headers: dict[str, str] = field(default_factory=dict)
    latency: bool = True
    """Whether wrk's latency percentiles mean anything here (not for pipelining, see below)."""
    ws: WsLoad | None = None
    """A WebSocket scenario: measured with `covetpy bench ws://…`, not wrk."""
    hosted: str | None = None
    """A hosted-app scenario: the key in `FRAMEWORKS` of the app every server serves."""
    kind: str = ""
    """For a hosted-app scenario, the native scenario it repeats (plaintext, json, ...)."""
    load: str = "wrk"
    """What drives the load: "wrk"; "split" (heads in 8-byte segments, benches/suite/split.py);
    "slow-mix" (wrk beside the slow clients of benches/suite/slow.py)."""
    wrk_threads: int = 1
    timeout_s: float = 2.0
    """wrk's `--timeout`: an answer later than this counts as a timeout error."""
    min_seconds: float = 0.0
    """The shortest run that means anything (`--quick` runs are stretched to it)."""
    gzip: bool = False
    """The answer must be gzip-encoded (Content-Encoding) and decompress to `expect`."""
    unit: str = "request"
    """What the report counts: "request", "connection" (one per request), "MiB" (uploads)."""
    units_per_request: float = 1.0
    group: str = ""
    """A group of scenarios `--scenarios` selects by name ("hostile"); not in the default."""

    def check(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> str | None:
        """Why an answer is wrong, or None when it is the expected one (`headers`: the
        answer's header fields, names lower-case)."""
        if status != 200:
            return f"status {status}: {body[:200]!r}"
        if self.gzip:
            coding = (headers or {}).get("content-encoding", "")
            if coding != "gzip":
                return f"Content-Encoding {coding!r}, wanted gzip"
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                return f"not gzip: {exc}"
        if isinstance(self.expect, bytes):
            ok = body == self.expect
        else:
            try:
                ok = json.loads(body) == self.expect
            except ValueError:
                ok = False
        return None if ok else f"unexpected body {body[:200]!r}, wanted {self.expect!r}"


def _lua_post() -> str:
    # A Lua long string holds the JSON verbatim (it contains no "]]").
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{POST_BODY.decode()}]]\n"
    )


# wrk sends what `request()` returns in one write and counts one response per request in
# it, but records one latency sample per batch, then "corrects" its histogram assuming one
# request per sample; the percentiles it prints for pipelining are not latencies of requests,
# so the suite does not report them.
LUA_PIPELINE = f"""
local batch
init = function(args)
  local r = {{}}
  for i = 1, {PIPELINE_DEPTH} do r[i] = wrk.format(nil) end
  batch = table.concat(r)
end
request = function() return batch end
"""

_NATIVE: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("plaintext", "plaintext GET", "/plaintext"),
        Scenario("json", "JSON GET", "/json", expect={"message": "Hello, World!"}),
        Scenario(
            "params",
            "path + query params",
            "/users/42?fields=a,b",
            expect={"id": 42, "fields": ["a", "b"]},
        ),
        Scenario(
            "post",
            "POST 1 KB JSON, validated",
            "/items",
            method="POST",
            body=POST_BODY,
            headers={"content-type": "application/json"},
            lua=_lua_post(),
            expect={"name": "fountain pen", "tags": 40},
        ),
        Scenario("middleware", "5 middlewares", "/plaintext", middleware=True),
        Scenario(
            "pipelined",
            f"pipelined plaintext ({PIPELINE_DEPTH}/write)",
            "/plaintext",
            lua=LUA_PIPELINE,
            latency=False,
        ),
        Scenario("sleep", "await sleep(1 ms)", "/sleep"),
        Scenario("c1000", "1,000 connections", "/plaintext", connections=1000),
        Scenario(
            "ws-echo",
            "WS echo, 1 KiB text, 64 sockets (messages/s)",
            "/plaintext",
            ws=WsLoad("/echo", ("--ws-mode", "echo", "--message-size", "1024"), "message"),
        ),
        # The bench publishes closed loop: each message is retired when its broadcast comes
        # back to the publisher (a subscriber too), 64 in flight, so the server sets the pace
        # and no queue grows without bound. With 4 in flight the servers sat idle between
        # round trips (2026-12-06, 1,000 subscribers: CovetPy 0.5 M deliveries/s at 0.6 of a
        # core, socketify.py 1.3 M); with 64 both use the whole core (3.4 M and 6.5 M). The
        # 64-byte text messages start with their send time, so delivery latency is known
        # (at this load it is mostly the queue of 64 messages).
        Scenario(
            "ws-broadcast",
            "WS broadcast, 1 publisher to 1,000 (deliveries/s)",
            "/plaintext",
            connections=1000,
            ws=WsLoad(
                "/broadcast",
                (
                    "--ws-mode",
                    "subscribe",
                    "--publish-rate",
                    "max",
                    "--pipeline",
                    "64",
                    "--message-size",
                    "64",
                ),
                "delivery",
            ),
        ),
    ]
}

# The hostile scenarios (issue 20, part 3). Every server is given what the pattern needs
# (benches/suite/servers.py, `_limits`): for c4096/c16384 a listen backlog of 4,096 (the
# kernel's net.core.somaxconn here caps any larger one) and room for 20,000 connections where
# a server counts them (CovetPy `--max-connections`, default 10,000 per worker; peregrine
# `--max-connections`, default 4,096; nginx `worker_connections`, 4,096 in the default
# config; granian `--backpressure`, default backlog/workers); for the upload a body limit
# above 20 MiB (CovetPy `--max-body-size`, default 10 MiB; peregrine `--max-body`, 16 MiB).
# The suite raises its own RLIMIT_NOFILE, which the servers and wrk inherit.
_CLOSE_LUA = 'wrk.headers["Connection"] = "close"\n'
_GZIP_LUA = 'wrk.headers["Accept-Encoding"] = "gzip"\n'
_UPLOAD_LUA = (
    'wrk.method = "POST"\n'
    'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    f'wrk.body = string.rep("x", {UPLOAD_BYTES})\n'
)
MIB = 1024 * 1024

HOSTILE: dict[str, Scenario] = {
    s.name: s
    for s in [
        # Mostly idle sockets: wrk keeps every connection busy, so each request waits behind
        # the others (p99 ~ connections / req/s); what grows is the cost of the readiness
        # set (epoll) and the memory per connection (peak RSS). Two wrk threads for 16,384
        # (both on wrk's CPU), and runs of 10 s at least: opening 16,384 connections takes
        # wrk seconds of each run (benches/suite/ports.py; a 3 s run measured ~0 requests).
        Scenario("c4096", "4,096 connections", "/plaintext", connections=4096, group="hostile"),
        Scenario(
            "c16384",
            "16,384 connections",
            "/plaintext",
            connections=16384,
            wrk_threads=2,
            timeout_s=4.0,
            min_seconds=10.0,
            group="hostile",
        ),
        # wrk reconnects after every answer to a `Connection: close` request: accept, one
        # request, close (the server closes first, so the TIME_WAIT state is the server's).
        # req/s = new connections/s; CPU per request is CPU per connection, accept and close
        # included, which is why it is several times the keep-alive plaintext figure.
        Scenario(
            "close",
            "Connection: close (new connections/s)",
            "/plaintext",
            lua=_CLOSE_LUA,
            headers={"connection": "close"},
            unit="connection",
            group="hostile",
        ),
        # Each head (~70 bytes) written 8 bytes at a time with TCP_NODELAY and 1 ms between
        # writes, so the server reads ~9 segments per request and must resume parsing each
        # time; the client (benches/suite/split.py) is slow by design, so req/s says little:
        # the figure is the server's CPU per request, beside keep-alive plaintext's.
        # socketify.py (uWS) closes such connections (2026-12-07: every one, at the first or
        # second request), which its cell shows as errors.
        Scenario(
            "split-head",
            "head in 8-byte segments",
            "/plaintext",
            connections=32,
            load="split",
            group="hostile",
        ),
        # 4 connections each POSTing 20 MiB (wrk writes it as fast as the server reads); the
        # handler reads the body chunk by chunk and answers the byte count, so peak RSS shows
        # whether a server holds a whole body (20 MiB x 4) or streams it.
        Scenario(
            "upload-20m",
            "POST 20 MiB, streamed (MiB/s)",
            "/upload",
            method="POST",
            body=b"x" * UPLOAD_BYTES,
            connections=4,
            lua=_UPLOAD_LUA,
            headers={"content-type": "application/octet-stream"},
            expect=str(UPLOAD_BYTES).encode(),
            timeout_s=10.0,
            unit="MiB",
            units_per_request=UPLOAD_BYTES / MIB,
            group="hostile",
        ),
        # ~10 KiB of JSON encoded by the handler and gzipped (level 5 everywhere it can be
        # set) to ~1.5 KiB: the compressor dominates the CPU per request, nginx included.
        Scenario(
            "json-10k-gzip",
            "10 KiB JSON, gzip",
            "/json10k",
            lua=_GZIP_LUA,
            headers={"accept-encoding": "gzip"},
            expect={"items": JSON_10K},
            gzip=True,
            group="hostile",
        ),
        # wrk's 64 keep-alive connections on plaintext, and beside them (benches/suite/slow.py)
        # 2 slowloris heads (a byte a second, never finished) and 2 slow readers (8 pipelined
        # GETs of a 64 KiB answer, read at 1 KiB/s): 4 slow sockets for 64 normal ones, as 1 %
        # of 64 would be none. The figure is the normal clients' req/s and p99 against plain
        # `plaintext`; the slow clients' fate (held to the end, cut off, 408) is reported.
        Scenario(
            "slow-mix", "plaintext + slow clients", "/plaintext", load="slow-mix", group="hostile"
        ),
    ]
}

FRAMEWORKS: dict[str, str] = {
    "asgi": "raw ASGI",
    "starlette": "Starlette",
    "fastapi": "FastAPI",
    "flask": "Flask (WSGI)",
}
"""The hosted apps: key -> title."""

HOSTED_KINDS = ("plaintext", "json", "params", "post")
"""The native scenarios each hosted app repeats, with their paths, bodies and answers."""


def _hosted() -> list[Scenario]:
    return [
        dataclasses.replace(
            _NATIVE[kind],
            name=f"{framework}-{kind}",
            title=f"{title}: {_NATIVE[kind].title}",
            hosted=framework,
            kind=kind,
        )
        for framework, title in FRAMEWORKS.items()
        for kind in HOSTED_KINDS
    ]


SCENARIOS: dict[str, Scenario] = {**_NATIVE, **HOSTILE, **{s.name: s for s in _hosted()}}

DEFAULT_SCENARIOS = tuple(_NATIVE)
"""What the suite runs when `--scenarios` is not given (`make bench`)."""

GROUPS: dict[str, tuple[str, ...]] = {
    "hosted": tuple(s.name for s in SCENARIOS.values() if s.hosted),
    "hostile": tuple(HOSTILE),
    **{
        f"hosted-{framework}": tuple(f"{framework}-{kind}" for kind in HOSTED_KINDS)
        for framework in FRAMEWORKS
    },
}
"""Names `--scenarios` expands: `hosted` is every hosted-app scenario, `hosted-fastapi` the
FastAPI ones, `hostile` the connection patterns of issue 20."""
