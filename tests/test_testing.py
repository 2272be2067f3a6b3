"""covetpy.testing: TestClient and AsyncTestClient serve the app through the real server."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import httpx
import pytest

from covetpy import App, HTTPException, Request, Response
from covetpy.config import ServerConfig
from covetpy.testing import AsyncTestClient, StartupError, TestClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(name: str = "a") -> tuple[App, dict[str, Any]]:
    """A fresh app and the state its hooks and handlers record."""
    # No OpenAPI routes: these tests are about the client, not the docs.
    app = App(openapi_url=None)
    state: dict[str, Any] = {"startup": 0, "shutdown": 0, "items": {}}

    @app.on_startup
    async def up() -> None:
        state["startup"] += 1

    @app.on_shutdown
    def down() -> None:
        state["shutdown"] += 1

    @app.get("/")
    def root() -> str:
        return f"app {name}"

    @app.get("/items/{item_id:int}")
    async def get_item(item_id: int) -> dict[str, object]:
        if item_id not in state["items"]:
            raise HTTPException(404, f"no item {item_id}")
        return {"id": item_id, **state["items"][item_id]}

    @app.post("/items")
    async def create_item(request: Request) -> Response:
        body = await request.json()
        item_id = len(state["items"]) + 1
        state["items"][item_id] = body
        return Response(f'{{"id": {item_id}}}', status_code=201, media_type="application/json")

    @app.get("/login")
    def login() -> Response:
        return Response("ok", headers={"set-cookie": "sid=abc; Path=/"})

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, object]:
        return {"cookie": request.headers.get("cookie"), "host": request.headers["host"]}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/loop")
    async def loop_id() -> dict[str, int]:
        return {"loop": id(asyncio.get_running_loop()), "thread": threading.get_ident()}

    return app, state


# -- TestClient ----------------------------------------------------------------------------------


def test_get_and_post_json() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        r = client.post("/items", json={"name": "pen", "price": 2.5})
        assert r.status_code == 201
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"id": 1}
        r = client.get("/items/1")
        assert r.status_code == 200
        assert r.json() == {"id": 1, "name": "pen", "price": 2.5}
        assert client.get("/").text == "app a"
        missing = client.get("/items/9")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["detail"] == "no item 9"
        # Rust routing: a path that does not convert to int does not match.
        assert client.get("/items/x").status_code == 404


def test_usable_without_with_block_and_close_runs_shutdown() -> None:
    app, state = make_app()
    client = TestClient(app)
    assert state["startup"] == 1
    assert client.get("/").text == "app a"
    client.close()
    assert state == {"startup": 1, "shutdown": 1, "items": {}}
    client.close()  # idempotent
    assert state["shutdown"] == 1
    assert not os.path.exists(client.socket_path)


def test_hooks_run_once_per_client() -> None:
    app, state = make_app()
    with TestClient(app) as client:
        assert state["startup"] == 1
        for _ in range(3):
            assert client.get("/").status_code == 200
        assert (state["startup"], state["shutdown"]) == (1, 0)
    assert (state["startup"], state["shutdown"]) == (1, 1)
    # A second client of the same app is a second lifetime.
    with TestClient(app) as client:
        assert client.get("/").status_code == 200
    assert (state["startup"], state["shutdown"]) == (2, 2)


def test_unclosed_client_is_stopped_when_collected() -> None:
    app, state = make_app()
    client = TestClient(app)
    assert client.get("/").status_code == 200
    path = client.socket_path
    del client
    gc.collect()
    assert state["shutdown"] == 1
    assert not os.path.exists(path)


def test_cookies_are_sent_back() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/whoami").json() == {"cookie": None, "host": "testserver"}
        r = client.get("/login")
        assert r.headers["set-cookie"] == "sid=abc; Path=/"
        assert client.cookies["sid"] == "abc"
        assert client.get("/whoami").json()["cookie"] == "sid=abc"


def test_handler_exception_is_a_500() -> None:
    app, _ = make_app()
    with TestClient(app) as client:
        r = client.get("/boom")
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/problem+json"
        assert "boom" not in r.text  # debug is off
        assert client.get("/").status_code == 200


def test_raise_server_exceptions() -> None:
    app, _ = make_app()
    with TestClient(app, raise_server_exceptions=True) as client:
        with pytest.raises(RuntimeError, match="boom"):
            client.get("/boom")
        # HTTPException is an answer, not a server error.
        assert client.get("/items/9").status_code == 404
        assert client.get("/").status_code == 200


def test_failing_startup_raises() -> None:
    app = App(openapi_url=None)

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("database unreachable")

    before = {t.name for t in threading.enumerate()}
    started = time.monotonic()
    with pytest.raises(StartupError, match="database unreachable") as info:
        TestClient(app, startup_timeout=60)
    # Reported when the hook fails, not at the startup timeout: only a clock tells them apart,
    # and the timeout is long enough for a generous bound.
    assert time.monotonic() - started < 30
    assert isinstance(info.value.__cause__, RuntimeError)
    assert {t.name for t in threading.enumerate()} == before


def test_slow_startup_times_out() -> None:
    app = App(openapi_url=None)

    @app.on_startup
    async def stuck() -> None:
        await asyncio.sleep(30)

    started = time.monotonic()
    with pytest.raises(StartupError, match="did not start within"):
        TestClient(app, startup_timeout=0.2)
    # Given up at the timeout, not when the hook returns (30 s): a generous bound between them.
    assert time.monotonic() - started < 20


def test_shutdown_hook_error_is_raised_on_close() -> None:
    app, _ = make_app()

    @app.on_shutdown
    def broken() -> None:
        raise ValueError("flush failed")

    client = TestClient(app)
    with pytest.raises(ValueError, match="flush failed"):
        client.close()


def test_two_apps_at_once() -> None:
    app_a, state_a = make_app("a")
    app_b, state_b = make_app("b")
    with TestClient(app_a) as a, TestClient(app_b) as b:
        for _ in range(3):
            assert a.get("/").text == "app a"
            assert b.get("/").text == "app b"
        a.post("/items", json={"name": "only in a"})
        assert a.get("/items/1").status_code == 200
        assert b.get("/items/1").status_code == 404
        assert a.get("/loop").json()["thread"] != b.get("/loop").json()["thread"]
    assert state_a["shutdown"] == state_b["shutdown"] == 1


def test_config_is_used() -> None:
    app, _ = make_app()
    with TestClient(app, config=ServerConfig(max_body_size=16)) as client:
        assert client.post("/items", json={"name": "x" * 100}).status_code == 413
        assert client.post("/items", json={"n": 1}).status_code == 201


def test_streaming_response() -> None:
    from tests.apps.basic import app

    expected = "".join(f"chunk{i};" for i in range(5))
    with TestClient(app) as client:
        assert client.get("/stream").text == expected
        with client.stream("GET", "/stream") as r:
            assert r.status_code == 200
            assert r.headers["transfer-encoding"] == "chunked"
            assert b"".join(r.iter_bytes()).decode() == expected
        r = client.get("/astream")
        assert r.text.count("\n") == 200


# -- AsyncTestClient ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_get_and_post_json() -> None:
    app, state = make_app()
    async with AsyncTestClient(app) as client:
        assert state["startup"] == 1
        r = await client.post("/items", json={"name": "pen"})
        assert r.status_code == 201
        assert r.headers["content-type"] == "application/json"
        assert (await client.get("/items/1")).json() == {"id": 1, "name": "pen"}
        assert (await client.get("/")).text == "app a"
        assert (await client.get("/boom")).status_code == 500
        # Handlers run in the test's own event loop.
        r = await client.get("/loop")
        assert r.json()["loop"] == id(asyncio.get_running_loop())
        assert state["shutdown"] == 0
    assert (state["startup"], state["shutdown"]) == (1, 1)
    assert not os.path.exists(client.socket_path)


@pytest.mark.anyio
async def test_async_cookies_and_concurrency() -> None:
    app, _ = make_app()
    async with AsyncTestClient(app) as client:
        await client.get("/login")
        results = await asyncio.gather(*(client.get("/whoami") for _ in range(20)))
        assert {r.json()["cookie"] for r in results} == {"sid=abc"}


@pytest.mark.anyio
async def test_async_starts_on_first_request() -> None:
    app, state = make_app()
    client = AsyncTestClient(app)
    assert state["startup"] == 0
    assert (await client.get("/")).text == "app a"
    assert state["startup"] == 1
    await client.aclose()
    assert state["shutdown"] == 1


@pytest.mark.anyio
async def test_async_failing_startup_raises() -> None:
    app = App(openapi_url=None)

    @app.on_startup
    async def broken() -> None:
        raise RuntimeError("database unreachable")

    with pytest.raises(StartupError, match="database unreachable"):
        async with AsyncTestClient(app):
            pass


@pytest.mark.anyio
async def test_async_slow_startup_times_out() -> None:
    app = App(openapi_url=None)

    @app.on_startup
    async def stuck() -> None:
        await asyncio.sleep(30)

    with pytest.raises(StartupError, match="did not start within"):
        async with AsyncTestClient(app, startup_timeout=0.2):
            pass


@pytest.mark.anyio
async def test_cancelled_server_task_stops() -> None:
    # What happens to a server task left running when its event loop ends: it is cancelled,
    # and must not block in join() waiting for a drain nobody started.
    app, _ = make_app()
    client = AsyncTestClient(app)
    assert (await client.get("/")).status_code == 200
    task = client._task
    assert task is not None
    task.cancel()
    # Blocked on a drain, it would end only at the drain timeout (30 s): not within 20 s.
    await asyncio.wait((task,), timeout=20)
    assert task.cancelled()
    await client.aclose()


@pytest.mark.anyio
async def test_async_and_sync_clients_side_by_side() -> None:
    app_a, _ = make_app("a")
    app_b, _ = make_app("b")
    with TestClient(app_a) as sync_client:
        async with AsyncTestClient(app_b, raise_server_exceptions=True) as client:
            assert (await client.get("/")).text == "app b"
            assert sync_client.get("/").text == "app a"
            with pytest.raises(RuntimeError, match="boom"):
                await client.get("/boom")


@pytest.mark.anyio
async def test_async_streaming_response() -> None:
    from tests.apps.basic import app

    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/astream") as r:
            lines = [line async for line in r.aiter_lines()]
        assert len(lines) == 200
        assert lines[-1] == "x" * 1000 + "199"


def test_clients_are_httpx_clients() -> None:
    assert issubclass(TestClient, httpx.Client)
    assert issubclass(AsyncTestClient, httpx.AsyncClient)
