"""The service in front, for tests/mesh/test_envoy_mesh.py: behind Envoy, it reports the
identity and deadline it was given, calls a second service with `covetpy.mesh.Client` and
publishes an event, so a test can follow the request id and trace through all of them.

`MESH_BACKEND` is the second service's address (host:port); `MESH_SLOW=N` makes `/budget`
take N seconds, like a stuck upstream.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from covetpy import App, Depends, PeerIdentity, Request
from covetpy.events import Envelope
from covetpy.mesh import Client, Static, require_identity

app = App(title="front", mesh=True, events="memory://")
backend = Client(upstreams={"backend": Static([os.environ.get("MESH_BACKEND", "127.0.0.1:1")])})
seen: list[dict[str, Any]] = []


@app.events.subscribe("orders.placed")
async def placed(event: dict[str, Any], envelope: Envelope) -> None:
    seen.append({"traceparent": envelope.traceparent, "request_id": envelope.requestid})


@app.get("/identity")
def identity(request: Request) -> dict[str, Any]:
    peer = request.peer_identity
    return {
        "client": request.client,
        "scheme": request.scheme,
        "spiffe_id": peer and peer.spiffe_id,
        "dns": peer and list(peer.dns),
        "subject": peer and peer.subject,
    }


in_cluster = require_identity(trust_domain="cluster.local")


@app.get("/admin")
def admin(peer: PeerIdentity = Depends(in_cluster)) -> dict[str, Any]:
    return {"spiffe_id": peer.spiffe_id}


@app.get("/budget")
async def budget(request: Request) -> dict[str, Any]:
    if slow := float(os.environ.get("MESH_SLOW") or 0):
        await asyncio.sleep(slow)
    return {"remaining": request.remaining(), "pid": os.getpid()}


@app.post("/orders")
async def order(request: Request) -> dict[str, Any]:
    """Calls the backend (its answer echoes the headers it got) and publishes an event."""
    r = await backend.get("http://backend/")
    await app.events.publish("orders.placed", {"sku": "pen"})
    for _ in range(100):  # the memory bus delivers on the loop: wait for our subscriber
        if seen:
            break
        await asyncio.sleep(0.01)
    return {
        "trace_id": request.trace_id,
        "span_id": request.span_id,
        "request_id": request.request_id,
        "backend_headers": r.json()["headers"],
        "event": seen.pop() if seen else None,
    }
