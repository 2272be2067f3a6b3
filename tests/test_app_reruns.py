"""One `App` served more than once in one process (issue 13, point 3): a TestClient, then
`with TestClient`, an AsyncTestClient, a real server on TCP, and a TestClient again. Each run
gets the loop-bound things it needs (event bus consumers, start-up state, background tasks) in
its own event loop and leaves nothing running; a run that starts while another still serves
the app fails at once and says why."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from covetpy import App
from covetpy.config import ServerConfig
from covetpy.events.bus import BusInUse
from covetpy.mesh import Client
from covetpy.server.worker import _new_loop, serve
from covetpy.testing import AsyncTestClient, StartupError, TestClient
from tests.conftest import free_port


class Runs:
    """What the app's hooks and handlers saw, readable from the test's thread."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.shutdowns = 0
        self.changed = threading.Condition()

    def wait_received(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: n in self.received, 10), self.received


def make_app() -> tuple[App, Runs]:
    app = App(title="reruns", openapi_url=None, events="memory://")
    runs = Runs()
    state: dict[str, Any] = {}

    @app.events.subscribe("pings.*")
    async def on_ping(event: dict[str, int]) -> None:
        with runs.changed:
            runs.received.append(event["n"])
            runs.changed.notify_all()

    @app.on_startup
    async def up() -> None:
        # Loop-bound things a user makes at start-up: a queue, a task serving it, a client.
        queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()

        async def double() -> None:
            while True:
                n, done = await queue.get()
                done.set_result(2 * n)

        state.update(queue=queue, task=asyncio.create_task(double()), client=Client())
        runs.loops.append(asyncio.get_running_loop())

    @app.on_shutdown
    async def down() -> None:
        state["task"].cancel()
        await asyncio.gather(state["task"], return_exceptions=True)
        await state["client"].aclose()
        runs.shutdowns += 1

    @app.post("/ping/{n:int}")
    async def ping(n: int) -> dict[str, int]:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await state["queue"].put((n, done))
        await app.events.publish("pings.sent", {"n": n}, key="k")
        return {"n": n, "double": await done}

    return app, runs


def check(client: httpx.Client, runs: Runs, n: int) -> None:
    r = client.post(f"/ping/{n}")
    assert r.status_code == 200, r.text
    assert r.json() == {"n": n, "double": 2 * n}
    runs.wait_received(n)


async def check_async(client: httpx.AsyncClient, runs: Runs, n: int) -> None:
    r = await client.post(f"/ping/{n}")
    assert r.status_code == 200, r.text
    assert r.json() == {"n": n, "double": 2 * n}
    for _ in range(3000):  # the handler runs in this loop: let it (up to 30 s)
        if n in runs.received:
            break
        await asyncio.sleep(0.01)
    assert n in runs.received


async def async_run(app: App, runs: Runs, n: int) -> None:
    async with AsyncTestClient(app) as client:
        await check_async(client, runs, n)
    # The run left nothing running in this loop but the test itself.
    assert asyncio.all_tasks() == {asyncio.current_task()}


class TcpServer:
    """`serve(app)` on a loopback TCP port in a thread of its own: the same code path as
    `covetpy run` with one worker, in this process, so with the same App object."""

    def __init__(self, app: App) -> None:
        self.port = free_port()
        self.loop = _new_loop()
        self.stop = asyncio.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        config = ServerConfig(host="127.0.0.1", port=self.port)
        self.thread = threading.Thread(target=self._run, args=(app, config), daemon=True)

    def _run(self, app: App, config: ServerConfig) -> None:
        try:
            self.loop.run_until_complete(
                serve(
                    app,
                    config,
                    lambda _: self.ready.set(),
                    install_signal_handlers=False,
                    stop=self.stop,
                )
            )
        except BaseException as exc:
            self.error = exc
        finally:
            self.loop.close()
            self.ready.set()

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        assert self.ready.wait(30) and self.error is None, self.error
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def test_one_app_served_by_each_kind_of_run_in_turn() -> None:
    app, runs = make_app()
    # The shape of the report: a client used once and dropped, then a `with` block.
    client = TestClient(app)
    check(client, runs, 1)
    client.close()
    with TestClient(app) as client:
        check(client, runs, 2)
    asyncio.run(async_run(app, runs, 3))
    with TcpServer(app) as tcp:
        check(tcp, runs, 4)
    with TestClient(app) as client:
        check(client, runs, 5)
    assert runs.received == [1, 2, 3, 4, 5]
    assert runs.shutdowns == 5
    assert len(set(map(id, runs.loops))) == 5  # a loop of its own each time
    assert all(loop.is_closed() for loop in runs.loops)
    assert not app.events.subscriptions[0].running


def test_publishing_from_the_test_between_runs() -> None:
    # The bus used from a loop of the test's own (asyncio.run) that closes without closing
    # the bus: the next run starts afresh.
    app, runs = make_app()
    with TestClient(app) as client:
        check(client, runs, 1)

    async def publish() -> None:
        await app.events.publish("pings.sent", {"n": 99})

    asyncio.run(publish())
    with TestClient(app) as client:
        check(client, runs, 2)
    assert 99 not in runs.received  # nobody consumed while no run served


@pytest.fixture
def first() -> Iterator[tuple[App, Runs, TestClient]]:
    app, runs = make_app()
    with TestClient(app) as client:
        yield app, runs, client


def test_two_fixtures_in_sequence(first: tuple[App, Runs, TestClient]) -> None:
    app, runs, client = first
    check(client, runs, 1)
    client.close()
    with TestClient(app) as again:
        check(again, runs, 2)


def test_a_second_run_while_the_first_serves_says_so() -> None:
    # What the report saw: a client never closed (a module-level `client = TestClient(app)`)
    # and a second one started for the same app; the second's shutdown then failed with
    # "The future belongs to a different loop". Now the second fails to start, at once, with
    # the reason, and the first goes on serving.
    app, runs = make_app()
    first = TestClient(app)
    try:
        check(first, runs, 1)
        with pytest.raises(StartupError, match="another run of the app") as info:
            TestClient(app)
        assert isinstance(info.value.__cause__, BusInUse)
        check(first, runs, 2)
    finally:
        first.close()
    with TestClient(app) as client:
        check(client, runs, 3)


def test_a_run_whose_loop_ended_without_shutdown() -> None:
    # An AsyncTestClient never closed: asyncio.run cancels its server and closes the loop, so
    # no shutdown ran and the bus's consumers died with the loop. The next run starts afresh
    # (it used to find them "running", consume nothing, and fail to drain them).
    app, runs = make_app()

    async def left_open() -> None:
        client = AsyncTestClient(app)
        await check_async(client, runs, 1)
        await httpx.AsyncClient.aclose(client)  # its connections only: the server goes on

    asyncio.run(left_open())
    assert runs.shutdowns == 0
    with TestClient(app) as client:
        check(client, runs, 2)
    assert runs.shutdowns == 1
