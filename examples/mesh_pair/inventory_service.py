"""The inventory service of the mesh pair: answers stock queries over gRPC (`Inventory`, from
inventory.proto), with health and reflection, next to its HTTP app. See README.md.

```sh
.venv/bin/covetpy run examples.mesh_pair.inventory_service:app --port 8001   # gRPC on 50061
```
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]

from covetpy import App
from covetpy.grpc import protos
from covetpy.mesh import context

# Generated code is made at run time (and cached), never committed.
inventory_pb2, inventory_pb2_grpc = protos.load(Path(__file__).with_name("inventory.proto"))

STOCK = {"pen": 120, "notebook": 40, "ink": 0}


class Inventory:
    """The `Inventory` service (a servicer needs only its methods; the generated base class
    would add UNIMPLEMENTED ones for those missing)."""

    async def GetStock(self, request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        if request.sku not in STOCK:
            await ctx.abort(grpc.StatusCode.NOT_FOUND, f"no such sku: {request.sku}")
        # The request id, trace and deadline of the call, set by covetpy's interceptors.
        call = context.current.get()
        left = context.remaining()
        return inventory_pb2.Stock(
            sku=request.sku,
            quantity=STOCK[request.sku],
            request_id=call.request_id if call and call.request_id else "",
            traceparent=call.traceparent if call and call.traceparent else "",
            budget_seconds=-1.0 if left is None else left,
        )


app = App(title="inventory")

# Co-hosted with the HTTP app: it starts with the worker, its health service follows
# /readyz, and on SIGTERM it stops with the drain's grace. Every worker listens on this port
# (SO_REUSEPORT): the kernel spreads connections over them.
app.grpc.port = int(os.environ.get("INVENTORY_GRPC_PORT", "50061"))
app.grpc.add_servicer(inventory_pb2_grpc.add_InventoryServicer_to_server, Inventory())
grpc_host = app.grpc


@app.get("/")
def about() -> dict[str, Any]:
    """Where the gRPC service is."""
    return {"grpc_port": grpc_host.port, "services": list(grpc_host.services)}
