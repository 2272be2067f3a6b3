"""Tiny real upstreams on loopback for the mesh client's tests: an HTTP/1.1 server whose
answers a test scripts, and a UDP DNS server built with dnspython."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, cast
from urllib.parse import parse_qsl, urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class Seen:
    """A request the upstream received."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


Handler = Callable[[Seen], Awaitable[Reply]]


async def ok(_: Seen) -> Reply:
    return Reply()


def failing(times: int, status: int = 503, headers: dict[str, str] | None = None) -> Handler:
    """Answers `status` (with `headers`) `times` times, then 200."""
    left = [times]

    async def handler(_: Seen) -> Reply:
        if left[0] > 0:
            left[0] -= 1
            return Reply(status, dict(headers or {}), b"failing")
        return Reply()

    return handler


class Upstream:
    """An HTTP/1.1 server on a free 127.0.0.1 port (keep-alive, Content-Length bodies)."""

    def __init__(self, handler: Handler = ok) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        # A reply still being delayed goes nowhere now: cut it short rather than wait it out.
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, target, headers, body)
                self.seen.append(seen)
                reply = await self.handler(seen)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                out = [f"HTTP/1.1 {reply.status} X"]
                out += [f"{k}: {v}" for k, v in reply.headers.items()]
                out.append(f"content-length: {len(reply.body)}")
                body = b"" if method == "HEAD" else reply.body
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def dead_address() -> str:
    """A 127.0.0.1 address nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class DnsServer(asyncio.DatagramProtocol):
    """Answers DNS queries over UDP on 127.0.0.1 from `records`: (name, type) -> (ttl,
    [rdata text]); `additional` names A records to add to every answer."""

    def __init__(
        self,
        records: dict[tuple[str, str], tuple[int, Sequence[str]]],
        additional: dict[str, str] | None = None,
    ) -> None:
        self.records = records
        self.additional = additional or {}
        self.queries = 0
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self.queries += 1
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        key = (question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        if key in self.records:
            ttl, rdatas = self.records[key]
            response.answer.append(dns.rrset.from_text(question.name, ttl, "IN", key[1], *rdatas))
            for name, address in self.additional.items():
                response.additional.append(dns.rrset.from_text(name, ttl, "IN", "A", address))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)
