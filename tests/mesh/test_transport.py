"""`RustTransport` against real servers on loopback: a `covetpy run` server, and a scripted
asyncio server for the responses CovetPy never sends (chunked, close-delimited, 1xx, bad)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from covetpy.mesh.client import Client
from covetpy.mesh.transport import RustTransport
from tests.conftest import RunningServer, StartServer, free_port

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: b\r\n\r\nok"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def covetpy_server(start_server: StartServer) -> RunningServer:
    return start_server("tests.apps.basic:app")


class Scripted:
    """A loopback server answering every request of a connection with `reply(request)`:
    bytes to write (None: close without answering); the connection ends after a reply
    containing `connection: close` or without a Content-Length."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.connections = 0
        self.address = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                answer = self.reply(head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer or b"content-length" not in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Scripted]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self


def always(answer: bytes | None) -> Scripted:
    return Scripted(lambda _: answer)


@asynccontextmanager
async def client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=RustTransport(**options), timeout=5) as c:
        yield c


async def test_round_trip_with_a_covetpy_server(covetpy_server: RunningServer) -> None:
    async with client() as c:
        r = await c.get(f"{covetpy_server.url}/json")
        assert r.status_code == 200
        assert r.json() == {"message": "hi", "n": [1, 2, 3]}
        assert r.headers["content-type"] == "application/json"
        assert r.http_version == "HTTP/1.1"
        body = b"x" * 100_000
        r = await c.post(f"{covetpy_server.url}/echo", content=body)
        assert r.content == body
        assert (await c.get(f"{covetpy_server.url}/missing")).status_code == 404


async def test_keep_alive_reuses_one_connection() -> None:
    transport = RustTransport()
    async with always(OK).running() as s, httpx.AsyncClient(transport=transport) as c:
        for _ in range(5):
            r = await c.get(f"http://{s.address}/")
            assert (r.status_code, r.text, r.headers["x-a"]) == (200, "ok", "b")
        assert s.connections == 1
        assert transport._client.idle_connections(s.address) == 1


async def test_chunked_response_keeps_the_servers_headers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with always(chunked).running() as s, client() as c:
        r = await c.get(f"http://{s.address}/")
    assert r.text == "abcde"
    assert "content-length" not in r.headers


async def test_close_delimited_and_interim_responses() -> None:
    replies = {
        b"/close": b"HTTP/1.1 200 OK\r\n\r\nto the end",
        b"/interim": b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
    }
    server = Scripted(lambda head: replies[head.split(b" ")[1]])
    async with server.running() as s, client() as c:
        assert (await c.get(f"http://{s.address}/close")).text == "to the end"
        assert (await c.get(f"http://{s.address}/interim")).text == "ok"


async def test_errors_map_to_httpx_exceptions() -> None:
    async with client() as c:
        with pytest.raises(httpx.ConnectError) as refused:
            await c.get(f"http://127.0.0.1:{free_port()}/")
        assert refused.value.request.url.path == "/"
        async with always(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").running() as s:
            with pytest.raises(httpx.RemoteProtocolError, match="Content-Length"):
                await c.get(f"http://{s.address}/")
        async with always(None).running() as s:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await c.get(f"http://{s.address}/")
        with pytest.raises(httpx.LocalProtocolError):
            await c.request("BAD METHOD", f"http://{s.address}/")
    async with client(max_body=1) as c, always(OK).running() as s:
        with pytest.raises(httpx.RemoteProtocolError, match="max_body"):
            await c.get(f"http://{s.address}/")


async def test_read_timeout_and_later_calls() -> None:
    gate = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await gate.wait()
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client() as c, always(OK).running() as s:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"http://127.0.0.1:{port}/", timeout=0.1)
        assert (await c.get(f"http://{s.address}/")).text == "ok"
        gate.set()


async def test_cancelled_await_does_not_break_later_calls() -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))

    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.1)
        writer.write(OK)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(late, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client() as c, always(OK).running() as s:
        task = asyncio.create_task(c.get(f"http://127.0.0.1:{port}/"))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)  # the answer arrives for a future nobody awaits
        assert (await c.get(f"http://{s.address}/")).text == "ok"
    assert errors == []


async def test_many_concurrent_calls(covetpy_server: RunningServer) -> None:
    async with client() as c:
        responses = await asyncio.gather(
            *(c.get(f"{covetpy_server.url}/users/{i}") for i in range(200))
        )
    assert [r.json()["id"] for r in responses] == list(range(200))


async def test_other_schemes_go_to_the_fallback() -> None:
    fallback = httpx.MockTransport(lambda request: httpx.Response(218, request=request))
    async with httpx.AsyncClient(transport=RustTransport(fallback=fallback)) as c:
        assert (await c.get("https://example.invalid/")).status_code == 218


async def test_closed_transport_refuses_requests() -> None:
    transport = RustTransport()
    await transport.aclose()
    await transport.aclose()
    async with always(OK).running() as s, httpx.AsyncClient(transport=transport) as c:
        with pytest.raises(httpx.TransportError, match="client closed"):
            await c.get(f"http://{s.address}/")


async def test_forked_child_gets_an_error_and_the_parent_keeps_working() -> None:
    transport = RustTransport()
    async with always(OK).running() as s, httpx.AsyncClient(transport=transport) as c:
        assert (await c.get(f"http://{s.address}/")).text == "ok"
        pid = os.fork()
        if pid == 0:  # child: the client thread is not here

            async def in_child() -> int:
                try:
                    await RustTransport.handle_async_request(
                        transport, httpx.Request("GET", f"http://{s.address}/")
                    )
                except httpx.TransportError as exc:
                    return 0 if "before fork" in str(exc) else 1
                return 2

            os._exit(asyncio.run(in_child()))
        _, status = await asyncio.to_thread(os.waitpid, pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert (await c.get(f"http://{s.address}/")).text == "ok"
        assert s.connections == 1


async def test_mesh_client_uses_it_by_default() -> None:
    async with always(OK).running() as s, Client(upstreams={"svc": s.address}) as c:
        assert isinstance(c._http._transport, RustTransport)
        assert (await c.get("http://svc/")).text == "ok"
