"""An app that records its shutdown hook, for drain tests."""

from __future__ import annotations

import asyncio
import os
import sys

from covetpy import App

app = App()


@app.get("/slow")
async def slow() -> str:
    # Logged so a test can wait for it to be in flight; long enough to still be when a busy
    # machine gets round to the next step.
    print("slow started", file=sys.stderr, flush=True)
    await asyncio.sleep(3.0)
    return "finished"


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}


@app.on_shutdown
def bye() -> None:
    print(f"shutdown hook ran in {os.getpid()}", file=sys.stderr, flush=True)
