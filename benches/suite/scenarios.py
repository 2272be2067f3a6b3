"""What each scenario asks of every server: the request (path, method, body), the number of
keep-alive connections, the wrk Lua that shapes the load, and the answer a server must give
before it is measured (so every server provably does the same work). The WebSocket
scenarios (`ws-*`) are driven by `covetpy bench ws://…` instead of wrk (benches/suite/ws.py);
their `path` is only the HTTP request that checks the server is up.

The hosted-app scenarios (`asgi-*`, `starlette-*`, `fastapi-*`, `flask-*`, issue 16) ask the
same four requests as plaintext, json, params and post of an existing ASGI or WSGI app, the same
app module on every server that hosts it (benches/suite/servers.py, `HOSTED_APPS`). They are
not in the default run: `--scenarios hosted` selects all of them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_SCENARIOS",
    "FRAMEWORKS",
    "GROUPS",
    "HOSTED_KINDS",
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

    def check(self, status: int, body: bytes) -> str | None:
        """Why an answer is wrong, or None when it is the expected one."""
        if status != 200:
            return f"status {status}: {body[:200]!r}"
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
_LUA_PIPELINE = f"""
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
            lua=_LUA_PIPELINE,
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


SCENARIOS: dict[str, Scenario] = {**_NATIVE, **{s.name: s for s in _hosted()}}

DEFAULT_SCENARIOS = tuple(_NATIVE)
"""What the suite runs when `--scenarios` is not given (`make bench`)."""

GROUPS: dict[str, tuple[str, ...]] = {
    "hosted": tuple(s.name for s in SCENARIOS.values() if s.hosted),
    **{
        f"hosted-{framework}": tuple(f"{framework}-{kind}" for kind in HOSTED_KINDS)
        for framework in FRAMEWORKS
    },
}
"""Names `--scenarios` expands: `hosted` is every hosted-app scenario, `hosted-fastapi` the
FastAPI ones."""
