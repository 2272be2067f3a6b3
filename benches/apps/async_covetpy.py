"""The same JSON answer from an async and a sync handler at `/`, as two apps, for the cost
of running async handlers as Tasks (adrs/0008):

    .venv/bin/python -m benches.cpu_per_request benches.apps.async_covetpy:async_app \\
        benches.apps.async_covetpy:sync_app
"""

from __future__ import annotations

from covetpy import App

async_app = App()
sync_app = App()


@async_app.get("/")
async def hello_async() -> dict[str, str]:
    return {"message": "Hello, World!"}


@sync_app.get("/")
def hello_sync() -> dict[str, str]:
    return {"message": "Hello, World!"}
