"""Async handlers that need a current task before their first await (regression: they ran
their first step outside any Task, so asyncio.timeout() and httpx failed there)."""

from __future__ import annotations

import asyncio
import os

import httpx

from covetpy import App

app = App()


@app.get("/timeout")
async def with_timeout() -> dict[str, bool]:
    async with asyncio.timeout(1.0):  # raised "should be used inside a task" before
        await asyncio.sleep(0)
    return {"ok": True}


@app.get("/current")
async def current() -> dict[str, bool]:
    return {"task": asyncio.current_task() is not None}


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.get("/outbound")
async def outbound() -> dict[str, str]:
    port = os.environ["TASKS_PORT"]
    async with httpx.AsyncClient() as client:  # anyio cancel scopes need the task
        r = await client.get(f"http://127.0.0.1:{port}/ping")
    return {"got": r.text}
