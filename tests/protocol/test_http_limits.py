"""Protocol tests of the HTTP side's limits over loopback: idle timeout, connection cap (FastAGI unaffected) and the
request-body limit, against the real LimitedSite on an asyncio reactor bound to the test's loop."""
from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any, AsyncIterator, Callable

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.internet.interfaces import IListeningPort
from twisted.web.resource import Resource
from twisted.web.server import Request

from switchboard.http_limits import HttpLimits, LimitedSite
from switchboard.ivr.agi_server import AGIServer
from switchboard.ivr.channel import Channel
from tests.protocol.fake_asterisk import WAIT, FakeAsterisk, RecordingEvents


class _Echo(Resource):
    """Answers a GET with `ok` and a POST with the length of the body it received."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.bodies: list[int] = []

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        return b"ok"

    def render_POST(self, request: Request) -> bytes:  # noqa: N802
        assert request.content is not None
        self.bodies.append(len(request.content.read()))
        return b"got %d" % self.bodies[-1]


class _Http:
    """One LimitedSite listening on a free loopback port."""

    def __init__(self, site: LimitedSite, port: IListeningPort, echo: _Echo) -> None:
        self.site = site
        self.port = port
        self.echo = echo

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port.getHost().port)  # type: ignore[attr-defined]


Serve = Callable[..., _Http]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
    ports: list[IListeningPort] = []

    def start(**limits: Any) -> _Http:
        echo = _Echo()
        site = LimitedSite(echo, HttpLimits(**limits), reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
        ports.append(port)
        return _Http(site, port, echo)

    yield start
    for port in ports:
        await port.stopListening().asFuture(asyncio.get_running_loop())  # type: ignore[union-attr]


async def _response(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One keep-alive GET; returns the status line once the whole response is in."""
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    await asyncio.wait_for(reader.readexactly(2), WAIT)  # b"ok"
    return head.split(b"\r\n", 1)[0]


async def test_idle_connection_is_closed_after_the_timeout(serve: Serve) -> None:
    """A connection that sends nothing is closed by the server after `idle_timeout` (not 12 hours)."""
    http = serve(idle_timeout=0.2)
    reader, writer = await http.connect()
    loop = asyncio.get_running_loop()
    opened = loop.time()
    assert await _response(reader) == b""
    assert loop.time() - opened < WAIT
    writer.close()


async def test_connection_over_the_cap_is_closed_while_fastagi_still_answers(serve: Serve) -> None:
    """With `max_connections` open, the next HTTP connection is closed at once, and a FastAGI call still runs."""
    http = serve(max_connections=2, idle_timeout=60)
    held = [await http.connect(), await http.connect()]
    for reader, writer in held:
        assert await _get(reader, writer) == b"HTTP/1.1 200 OK"
    reader, writer = await http.connect()
    assert await _response(reader) == b""
    assert http.site.refused_connections == 1 and http.site.open_connections == 2

    answered: asyncio.Queue[str] = asyncio.Queue()

    async def flow(channel: Channel) -> None:
        await channel.answer()
        answered.put_nowait(channel.env.uniqueid)

    agi = AGIServer(asyncio.get_running_loop(), {"inbound": flow}, allowed_peers=["127.0.0.1/32"],
                    header_timeout=5, command_timeout=5, events=RecordingEvents(),
                    logger=logging.getLogger("test"))
    await agi.start("127.0.0.1", 0)
    try:
        asterisk = await FakeAsterisk.connect(agi.port)
        await asterisk.send_header(uniqueid="1700000000.9")
        await asterisk.expect("ANSWER", "200 result=0")
        assert await asyncio.wait_for(answered.get(), WAIT) == "1700000000.9"
        asterisk.close()
    finally:
        await agi.stop(0)
    for reader, writer in held:  # the held connections still work; closing one frees a slot
        assert await _get(reader, writer) == b"HTTP/1.1 200 OK"
    held[0][1].close()
    await held[0][1].wait_closed()
    writer.close()


async def test_oversized_content_length_is_413_before_any_body(serve: Serve,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A Content-Length over the limit is answered 413 as soon as the headers end: no body read, no temp file."""
    temp_files: list[object] = []
    real = tempfile.TemporaryFile

    def recording(*args: Any, **kwargs: Any) -> Any:
        temp_files.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    http = serve(max_body_bytes=1000)
    reader, writer = await http.connect()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1610612736\r\nExpect: 100-continue\r\n\r\n")
    answer = await _response(reader)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer
    assert http.echo.bodies == [] and temp_files == []
    writer.close()


async def test_chunked_body_over_the_limit_is_cut_off_with_413(serve: Serve) -> None:
    """A chunked body is refused with 413 once it passes the limit, before the resource sees it."""
    http = serve(max_body_bytes=1000)
    reader, writer = await http.connect()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        writer.write(b"200\r\n" + b"x" * 0x200 + b"\r\n")
    writer.write(b"0\r\n\r\n")
    answer = await _response(reader)
    assert answer.startswith(b"HTTP/1.1 413 ") and http.echo.bodies == []
    writer.close()


async def test_body_within_the_limit_reaches_the_resource(serve: Serve) -> None:
    """A body up to the limit (Content-Length or chunked) is delivered to the resource as usual."""
    http = serve(max_body_bytes=1000)
    reader, writer = await http.connect()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + b"y" * 1000)
    assert (await _response(reader)).endswith(b"got 1000")
    reader, writer = await http.connect()
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 b"10\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n")
    assert (await _response(reader)).endswith(b"got 16")
    assert http.echo.bodies == [1000, 16]
