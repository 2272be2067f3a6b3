"""An app that records its shutdown hook, for drain tests."""

from __future__ import annotations

import asyncio
import os
import sys

from covetpy import App

app = App()


@app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(1.0)
    return "finished"


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}


@app.on_shutdown
def bye() -> None:
    print(f"shutdown hook ran in {os.getpid()}", file=sys.stderr, flush=True)
