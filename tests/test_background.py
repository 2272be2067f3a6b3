"""covetpy.background: tasks queued by a handler run after its response, in order, sync ones
in the thread pool; failures are logged and do not stop the rest; the drain waits for them."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest

from covetpy import App, BackgroundTasks, Depends, HTTPException, Request, RouteError
from covetpy import background as bg
from covetpy.config import ServerConfig
from covetpy.mesh import context as mesh
from covetpy.responses import StreamingResponse
from covetpy.testing import AsyncTestClient, TestClient
from tests.conftest import StartServer

APP = "tests.apps.background_app:app"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def wait_for(check: object, timeout: float = 10.0) -> None:
    """Polls `check()` until it is true; fails after `timeout` (a deadline, not a measure)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.01)


def counted(outcome: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(
        "covetpy_background_tasks_total", {"outcome": outcome}
    )
    return value or 0.0


# -- in-process: the test client waits for the tasks ------------------------------------------


def make_app(ran: list[tuple[str, str]]) -> App:
    app = App(openapi_url="/openapi.json")

    def record(what: str) -> None:
        ran.append((what, threading.current_thread().name))

    async def record_async(what: str) -> None:
        ran.append((what, "loop"))

    def fail() -> None:
        raise ValueError("no mail server")

    def audit(tasks: BackgroundTasks) -> BackgroundTasks:
        tasks.add_task(record, "dependency")
        return tasks

    @app.get("/sync")
    def sync_handler(tasks: BackgroundTasks, seen: BackgroundTasks = Depends(audit)) -> dict:
        tasks.add_task(record, "one")
        tasks.add_task(record_async, "two")
        tasks.add_task(record, "three")
        return {"same": tasks is seen}

    @app.get("/async")
    async def async_handler(tasks: BackgroundTasks) -> str:
        await asyncio.sleep(0)  # suspends: the Task path
        tasks.add_task(record_async, "a")
        tasks.add_task(record, "b")
        return "ok"

    @app.get("/failing")
    def failing(tasks: BackgroundTasks) -> str:
        tasks.add_task(record, "before")
        tasks.add_task(fail)
        tasks.add_task(record, "after")
        return "ok"

    @app.get("/refused")
    def refused(tasks: BackgroundTasks) -> str:
        tasks.add_task(record, "never")
        raise HTTPException(409, "conflict")

    @app.get("/none")
    def none(tasks: BackgroundTasks) -> str:
        return "nothing queued"

    @app.get("/plain")
    def plain() -> str:
        return "no parameter"

    return app


@pytest.fixture
def ran() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def client(ran: list[tuple[str, str]]) -> Iterator[TestClient]:
    with TestClient(make_app(ran)) as c:
        yield c


def test_tasks_run_in_order_sync_ones_in_the_thread_pool(
    client: TestClient, ran: list[tuple[str, str]]
) -> None:
    r = client.get("/sync")
    assert r.status_code == 200
    assert [what for what, _ in ran] == ["dependency", "one", "two", "three"]
    threads = dict(ran)
    assert threads["one"].startswith("covetpy-sync") and threads["three"].startswith("covetpy-")
    assert threads["two"] == "loop"


def test_a_dependency_gets_the_handlers_instance(client: TestClient) -> None:
    assert client.get("/sync").json() == {"same": True}


def test_async_handler_that_suspends(client: TestClient, ran: list[tuple[str, str]]) -> None:
    assert client.get("/async").text == "ok"
    assert [what for what, _ in ran] == ["a", "b"]


def test_a_failure_is_logged_with_the_request_id_and_the_rest_run(
    client: TestClient, ran: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    failed = counted("failed")
    with caplog.at_level(logging.ERROR, logger="covetpy.background"):
        r = client.get("/failing", headers={"x-request-id": "req-7"})
    assert r.status_code == 200 and r.text == "ok"
    assert [what for what, _ in ran] == ["before", "after"]
    [record] = [r for r in caplog.records if r.name == "covetpy.background"]
    assert record.levelno == logging.ERROR
    assert "req-7" in record.getMessage() and "fail" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert counted("failed") == failed + 1


def test_tasks_are_dropped_when_the_handler_raises(
    client: TestClient, ran: list[tuple[str, str]]
) -> None:
    assert client.get("/refused").status_code == 409
    assert client.get("/none").text == "nothing queued"
    assert ran == []
    assert not bg.busy()


def test_counted_in_metrics(client: TestClient) -> None:
    succeeded = counted("succeeded")
    client.get("/sync")
    assert counted("succeeded") == succeeded + 4


def test_not_a_parameter_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/sync"]["get"]
    assert not operation.get("parameters")


def test_a_websocket_route_refuses_it() -> None:
    app = App()

    @app.websocket("/ws")
    async def ws(tasks: BackgroundTasks) -> None:
        pass

    with pytest.raises(RouteError, match="BackgroundTasks"):
        app.route_table()


def test_background_tasks_alone() -> None:
    # FastAPI's spelling works outside a request too (a test building one by hand).
    tasks = BackgroundTasks()
    tasks.add_task(print, "x", end="")
    assert len(tasks) == 1 and tasks.tasks[0].kwargs == {"end": ""}
    assert "print" in repr(tasks)


def test_around_middleware_even_one_that_fails_after_the_handler() -> None:
    app = App()
    ran: list[str] = []

    @app.middleware
    async def outer(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        await asyncio.sleep(0)  # suspends after the handler: the tasks still wait for the send
        assert request.path.strip("/") not in ran
        if request.path == "/broken":
            raise RuntimeError("a middleware bug")
        return response

    @app.get("/ok")
    def ok(tasks: BackgroundTasks) -> str:  # a sync handler inside an async chain
        tasks.add_task(ran.append, "ok")
        return "ok"

    @app.get("/broken")
    async def broken(tasks: BackgroundTasks) -> str:
        tasks.add_task(ran.append, "broken")
        return "never sent"

    with TestClient(app) as client:
        assert client.get("/ok").text == "ok"
        # The handler returned: its tasks run after the response sent, here the 500 the
        # middleware's exception was rendered as.
        assert client.get("/broken").status_code == 500
    assert ran == ["ok", "broken"]
    assert not bg.busy()


def test_tasks_see_the_request_id_without_the_deadline() -> None:
    app = App(mesh=True)
    seen: list[mesh.CallContext | None] = []

    @app.get("/")
    async def index(tasks: BackgroundTasks) -> str:
        call = mesh.current.get()
        assert call is not None and call.deadline is not None
        tasks.add_task(lambda: seen.append(mesh.current.get()))
        return "ok"

    with TestClient(app) as client:
        client.get("/", headers={"x-request-id": "r-9", "x-envoy-expected-rq-timeout-ms": "5000"})
    [call] = seen
    assert call is not None and call.request_id == "r-9" and call.deadline is None


# -- streamed responses, in the test's own loop -----------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_streamed_response_runs_them_after_its_last_chunk(kind: str) -> None:
    app = App()
    ran: list[str] = []
    gate = asyncio.Event()

    async def body() -> object:
        yield b"first"
        await gate.wait()
        yield b"last"

    def stream(tasks: BackgroundTasks) -> StreamingResponse:
        tasks.add_task(ran.append, "after")
        return StreamingResponse(body(), media_type="text/plain")

    async def stream_async(tasks: BackgroundTasks) -> StreamingResponse:
        await asyncio.sleep(0)
        return stream(tasks)

    app.get("/stream")(stream if kind == "sync" else stream_async)

    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/stream") as r:
            chunks = r.aiter_raw()
            assert await chunks.__anext__() == b"first"
            assert ran == []  # the body is still being sent
            gate.set()
            assert [c async for c in chunks] == [b"last"]
        await bg.idle()
        assert ran == ["after"]


@pytest.mark.anyio
async def test_async_client_waits_for_them() -> None:
    app = App()
    ran: list[str] = []

    async def slow() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        ran.append("done")

    @app.get("/")
    async def index(tasks: BackgroundTasks) -> str:
        tasks.add_task(slow)
        return "ok"

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "ok"
        assert ran == ["done"]


# -- the drain, in-process ----------------------------------------------------------------------


def test_closing_the_client_cancels_what_outlives_the_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    started = threading.Event()
    cancelled = counted("cancelled")

    async def stuck() -> None:
        started.set()
        await asyncio.Event().wait()

    @app.get("/")
    def index(tasks: BackgroundTasks) -> str:
        tasks.add_task(stuck)
        tasks.add_task(print, "never")
        return "ok"

    client = TestClient(app, config=ServerConfig(drain_timeout=0.2))
    r = client.send(client.build_request("GET", "/"), stream=True)  # no wait for the tasks
    r.read()
    assert r.text == "ok"
    assert started.wait(10)
    with caplog.at_level(logging.WARNING, logger="covetpy.background"):
        client.close()
    assert any("2 background task(s) of 1 request(s) cancelled" in m for m in caplog.messages)
    assert counted("cancelled") == cancelled + 2
    assert not bg.busy()


# -- a real server --------------------------------------------------------------------------------


def test_the_response_is_sent_before_the_task_runs(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(APP)
    out = tmp_path / "later"
    r = httpx.get(f"{server.url}/later", params={"out": str(out)}, timeout=10)
    # Answered while its task waits for /release, which only this test calls.
    assert r.status_code == 200 and r.text == "sent"
    assert not out.exists()
    assert httpx.get(f"{server.url}/release", timeout=10).text == "released"
    wait_for(out.exists)
    assert out.read_text() == "released"
    assert server.stop() == 0


def test_failure_logged_with_the_request_id_metrics_counted(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(APP, "--metrics")
    out = tmp_path / "mixed"
    r = httpx.get(f"{server.url}/mixed", params={"out": str(out)}, headers={"x-request-id": "r-42"})
    assert r.status_code == 200 and r.text == "queued"
    wait_for(out.exists)
    assert out.read_text().startswith("covetpy-sync")
    assert (tmp_path / "mixed.first").read_text() == "ok"
    server.wait_for_log("background task fail of request r-42 failed")
    server.wait_for_log("RuntimeError: the mail server is down")

    def scraped() -> bool:
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        return (
            'covetpy_background_tasks_total{outcome="succeeded"} 2.0' in text
            and 'covetpy_background_tasks_total{outcome="failed"} 1.0' in text
            and "covetpy_background_tasks_in_flight 0.0" in text
        )

    wait_for(scraped)
    assert server.stop() == 0


def test_sigterm_waits_for_running_tasks(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(APP)
    out = tmp_path / "slow"
    r = httpx.get(f"{server.url}/slow", params={"out": str(out), "seconds": "0.5"}, timeout=10)
    assert r.text == "queued"
    assert server.stop(signal.SIGTERM) == 0
    # Written by the task the drain waited for (the process has exited: nothing else could).
    assert out.read_text() == "done"
    assert "cancelled" not in server.log


def test_sigterm_cancels_what_outlives_the_drain_deadline(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(APP, "--drain-timeout", "0.5")
    out = tmp_path / "forever"
    assert httpx.get(f"{server.url}/forever", params={"out": str(out)}, timeout=10).is_success
    assert server.stop(signal.SIGTERM) == 0
    assert "2 background task(s) of 1 request(s) cancelled" in server.log
    assert not out.exists()
