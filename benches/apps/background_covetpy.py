"""What `BackgroundTasks` costs per request, and what it costs handlers that do not declare it:
the same JSON answer from handlers with a query parameter (so the resolved path, not the fast
one), without the parameter, declaring it with no task added, and adding one no-op task; each
async and sync, one app per variant:

    .venv/bin/python -m benches.cpu_per_request --path '/?n=1' \\
        benches.apps.background_covetpy:plain benches.apps.background_covetpy:declared \\
        benches.apps.background_covetpy:one_task benches.apps.background_covetpy:sync_plain \\
        benches.apps.background_covetpy:sync_declared benches.apps.background_covetpy:sync_one_task

With `--alt-pythonpath` pointing at a checkout without background tasks, `plain` and
`sync_plain` give the before/after of the request path for handlers that do not use them.
"""

from __future__ import annotations

from covetpy import App

try:
    from covetpy import BackgroundTasks
except ImportError:  # an older checkout (--alt-pythonpath): only the plain variants run
    BackgroundTasks = None  # type: ignore[assignment,misc]

plain = App(openapi_url=None)
sync_plain = App(openapi_url=None)


@plain.get("/")
async def hello(n: int = 0) -> dict[str, int]:
    return {"n": n}


@sync_plain.get("/")
def hello_sync(n: int = 0) -> dict[str, int]:
    return {"n": n}


async def noop() -> None:
    """The task: nothing, so what is measured is the hand-off and the Task that runs it."""


def sync_noop() -> None:
    """A sync task: a trip through the thread pool."""


if BackgroundTasks is not None:
    declared = App(openapi_url=None)
    one_task = App(openapi_url=None)
    sync_declared = App(openapi_url=None)
    sync_one_task = App(openapi_url=None)
    sync_one_thread = App(openapi_url=None)

    @declared.get("/")
    async def hello_declared(tasks: BackgroundTasks, n: int = 0) -> dict[str, int]:
        return {"n": n}

    @one_task.get("/")
    async def hello_one(tasks: BackgroundTasks, n: int = 0) -> dict[str, int]:
        tasks.add_task(noop)
        return {"n": n}

    @sync_declared.get("/")
    def hello_sync_declared(tasks: BackgroundTasks, n: int = 0) -> dict[str, int]:
        return {"n": n}

    @sync_one_task.get("/")
    def hello_sync_one(tasks: BackgroundTasks, n: int = 0) -> dict[str, int]:
        tasks.add_task(noop)
        return {"n": n}

    @sync_one_thread.get("/")
    def hello_sync_thread(tasks: BackgroundTasks, n: int = 0) -> dict[str, int]:
        tasks.add_task(sync_noop)
        return {"n": n}
