"""Protocol tests of /metrics rendered in a forked child (switchboard/metrics_rendering.py): the same bytes as
prometheus_client's own rendering, one child for concurrent scrapes, 503 (never a hang) when the child is stuck or
dies, FastAGI calls served while a rendering runs, and a child that leaves nothing of the parent's behind (sockets,
buffers, atexit). Children are held and released through a Unix socket, so nothing here waits on a clock."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from switchboard.cti.screen_pop import AgentStreams
from switchboard.http_monitoring import MetricsRenderer, MetricsResource
from switchboard.http_site import HttpCollaborators, build_site
from switchboard.ivr.agi_server import AGIServer
from switchboard.ivr.channel import Channel
from switchboard.metrics_rendering import ForkedRendering
from tests.protocol.fake_asterisk import WAIT, FakeAsterisk, RecordingEvents

OPENMETRICS = b"application/openmetrics-text; version=1.0.0"


class _Gate:
    """A Unix socket the rendering child reports to (its pid) and then waits on until the test releases it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pids: asyncio.Queue[int] = asyncio.Queue()
        self.seen: list[int] = []
        self.release = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_unix_server(self._child, str(self.path))

    async def _child(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid = int(await reader.readline())
        self.seen.append(pid)
        self.pids.put_nowait(pid)
        await self.release.wait()
        try:
            writer.write(b"go\n")
            await writer.drain()
        except ConnectionError:
            pass  # the child was killed at its deadline
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _GatedCollector(Collector):
    """Collected in the child: reports its pid through the gate and blocks until released (or forever)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def collect(self) -> Iterator[Metric]:
        with socket.socket(socket.AF_UNIX) as gate:
            gate.connect(self.path)
            gate.sendall(b"%d\n" % os.getpid())
            gate.recv(16)
        yield GaugeMetricFamily("switchboard_test_rendered_by_pid", "the pid that rendered", value=os.getpid())


class _DyingCollector(Collector):
    """Kills the process that collects it (the rendering child), as an OOM kill would."""

    def collect(self) -> Iterator[Metric]:
        os.kill(os.getpid(), signal.SIGKILL)
        yield GaugeMetricFamily("switchboard_test_never", "never", value=0)


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[_Gate]:
    opened = _Gate(tmp_path / "gate.sock")
    await opened.open()
    yield opened
    opened.release.set()
    await opened.close()


def _busy_registry() -> CollectorRegistry:
    """Every instrument kind, labels that need escaping, and a custom collector."""
    registry = CollectorRegistry()
    calls = Counter("switchboard_test_calls_total", "calls", ["queue", "segment"], registry=registry)
    calls.labels("sales", "vip").inc(3)
    calls.labels('say "hi"\\', "new\nline").inc()
    Gauge("switchboard_test_waiting", "waiting", registry=registry).set(7.5)
    wait = Histogram("switchboard_test_wait_seconds", "wait", ["queue"], buckets=(1, 20, 60), registry=registry)
    for seconds in (0.5, 12, 45, 300):
        wait.labels("sales").observe(seconds)
    Summary("switchboard_test_talk_seconds", "talk", registry=registry).observe(42)
    Info("switchboard_test_build", "build", registry=registry).info({"version": "1.2.3"})
    Enum("switchboard_test_mode", "mode", states=["day", "night"], registry=registry).state("night")

    class Queues(Collector):
        def collect(self) -> Iterator[Metric]:
            family = GaugeMetricFamily("switchboard_test_queue_depth", "depth", labels=["queue"])
            family.add_metric(["sales"], 4)
            family.add_metric(["support"], 0)
            yield family
    registry.register(Queues())
    return registry


async def _http_get(port: int, accept: bytes | None) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One HTTP/1.0 GET /metrics over loopback: status line, headers (lower-cased names), body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: x\r\n" + (b"Accept: " + accept + b"\r\n" if accept else b"")
                 + b"\r\n")
    raw = await asyncio.wait_for(reader.read(), WAIT)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines)}
    return status, headers, body


def _request(accept: bytes | None = None) -> DummyRequest:
    request = DummyRequest([b"metrics"])
    if accept is not None:
        request.requestHeaders.addRawHeader(b"accept", accept)
    return request


async def _finished(request: DummyRequest) -> None:
    await asyncio.wait_for(request.notifyFinish().asFuture(asyncio.get_running_loop()), WAIT)


def _render(resource: MetricsResource, request: DummyRequest) -> object:
    return resource.render(request)  # type: ignore[no-untyped-call]


async def test_metrics_are_prometheus_clients_own_rendering_in_both_formats() -> None:
    """GET /metrics over HTTP returns byte for byte what prometheus_client renders, as text and as OpenMetrics."""
    registry = _busy_registry()
    reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
    site = build_site(HttpCollaborators(registry=registry, token="", agent_streams=AgentStreams()), reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[arg-type]
    try:
        number = port.getHost().port  # type: ignore[attr-defined]
        status, headers, body = await _http_get(number, None)
        assert status == b"HTTP/1.0 200 OK"
        assert headers[b"content-type"].startswith(b"text/plain")
        assert body == text_latest(registry)
        status, headers, body = await _http_get(number, OPENMETRICS)
        assert status == b"HTTP/1.0 200 OK"
        assert headers[b"content-type"].startswith(b"application/openmetrics-text")
        assert body == openmetrics_latest(registry)
    finally:
        await port.stopListening().asFuture(asyncio.get_running_loop())  # type: ignore[union-attr]


async def test_concurrent_scrapes_share_one_rendering_in_another_process(gate: _Gate) -> None:
    """Three scrapes arriving during a rendering get its one child's output; the loop is free meanwhile."""
    registry = CollectorRegistry()
    registry.register(_GatedCollector(gate.path))
    resource = MetricsResource(MetricsRenderer(registry))
    requests = [_request(OPENMETRICS) for _ in range(3)]
    for request in requests:
        assert _render(resource, request) is NOT_DONE_YET
    finishing = [asyncio.ensure_future(_finished(request)) for request in requests]
    child = await asyncio.wait_for(gate.pids.get(), WAIT)
    assert child != os.getpid()
    assert all(request.written == [] for request in requests)  # the loop answered the gate while the child waits
    gate.release.set()
    await asyncio.gather(*finishing)
    assert gate.seen == [child]
    bodies = {b"".join(request.written) for request in requests}
    assert len(bodies) == 1
    assert b"switchboard_test_rendered_by_pid %d.0" % child in bodies.pop()


async def test_a_stuck_renderer_is_killed_at_its_deadline_and_the_scrape_gets_503(gate: _Gate) -> None:
    """A child that never finishes is killed at the deadline and reaped; the scraper gets 503, not a hang."""
    registry = CollectorRegistry()
    registry.register(_GatedCollector(gate.path))
    resource = MetricsResource(MetricsRenderer(registry, deadline=0.2))
    request = _request()
    assert _render(resource, request) is NOT_DONE_YET
    child = await asyncio.wait_for(gate.pids.get(), WAIT)
    await _finished(request)  # the gate is never released: only the deadline can end it
    assert request.responseCode == 503
    assert request.responseHeaders.getRawHeaders(b"retry-after") == [b"1"]
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # already reaped by the renderer: no zombie left


async def test_a_renderer_that_dies_gives_503() -> None:
    """A child killed mid-rendering (as by the OOM killer) gives the scraper a 503; the next scrape forks anew."""
    registry = CollectorRegistry()
    registry.register(_DyingCollector())
    renderer = MetricsRenderer(registry)
    request = _request()
    assert _render(MetricsResource(renderer), request) is NOT_DONE_YET
    await _finished(request)
    assert request.responseCode == 503
    again = _request()
    _render(MetricsResource(renderer), again)
    await _finished(again)
    assert again.responseCode == 503
    assert len(renderer.rendering.fork_seconds) == 2


async def test_a_failed_fork_gives_503() -> None:
    """When no child can be forked (e.g. out of memory or processes), the scrape is a 503 at once."""
    def cannot_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    registry = CollectorRegistry()
    request = _request()
    _render(MetricsResource(MetricsRenderer(registry, rendering=ForkedRendering(registry, fork=cannot_fork))),
            request)
    await _finished(request)
    assert request.responseCode == 503


async def test_calls_continue_while_a_scrape_runs(gate: _Gate) -> None:
    """With a rendering child held mid-collection, a FastAGI call is served start to end; then the scrape ends."""
    registry = CollectorRegistry()
    registry.register(_GatedCollector(gate.path))
    scrape = _request(OPENMETRICS)
    assert _render(MetricsResource(MetricsRenderer(registry)), scrape) is NOT_DONE_YET
    await asyncio.wait_for(gate.pids.get(), WAIT)

    served: asyncio.Queue[str] = asyncio.Queue()

    async def flow(channel: Channel) -> None:
        await channel.answer()
        await channel.command("NOOP")
        served.put_nowait(channel.env.uniqueid)

    agi = AGIServer(asyncio.get_running_loop(), {"inbound": flow}, allowed_peers=["127.0.0.1/32"],
                    header_timeout=5, command_timeout=5, events=RecordingEvents(), logger=logging.getLogger("test"))
    await agi.start("127.0.0.1", 0)
    try:
        asterisk = await FakeAsterisk.connect(agi.port)
        await asterisk.send_header(uniqueid="1700000000.42")
        await asterisk.expect("ANSWER", "200 result=0")
        await asterisk.expect("NOOP", "200 result=0")
        assert await asyncio.wait_for(served.get(), WAIT) == "1700000000.42"
        asterisk.close()
    finally:
        await agi.stop(0)
    assert scrape.written == []  # the scrape was still under way the whole call
    gate.release.set()
    await _finished(scrape)
    assert b"".join(scrape.written).endswith(b"# EOF\n")


async def test_a_socket_the_service_closes_during_a_rendering_really_closes(gate: _Gate) -> None:
    """The child closes every inherited descriptor, so a call's socket closed by the service meanwhile sends EOF."""
    service_end, asterisk_end = socket.socketpair()
    registry = CollectorRegistry()
    registry.register(_GatedCollector(gate.path))
    scrape = _request()
    assert _render(MetricsResource(MetricsRenderer(registry)), scrape) is NOT_DONE_YET
    await asyncio.wait_for(gate.pids.get(), WAIT)  # the child is alive, held mid-collection
    service_end.close()
    asterisk_end.setblocking(False)
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.sock_recv(asterisk_end, 1), WAIT) == b""
    asterisk_end.close()
    gate.release.set()
    await _finished(scrape)


async def test_the_child_neither_flushes_inherited_buffers_nor_runs_atexit(tmp_path: Path) -> None:
    """The child leaves with os._exit: data buffered in the parent is written once, atexit handlers never run."""
    import atexit
    buffered = (tmp_path / "buffered.txt").open("w")
    buffered.write("written once\n")  # still in the parent's buffer when the child is forked
    ran = tmp_path / "atexit-ran"

    def at_exit() -> None:
        ran.write_text(str(os.getpid()))
    atexit.register(at_exit)
    try:
        registry = CollectorRegistry()
        Counter("switchboard_test_things_total", "things", registry=registry).inc()
        request = _request()
        _render(MetricsResource(MetricsRenderer(registry)), request)
        await _finished(request)
        assert b"switchboard_test_things_total 1.0" in b"".join(request.written)
    finally:
        atexit.unregister(at_exit)
    buffered.close()
    assert (tmp_path / "buffered.txt").read_text() == "written once\n"
    assert not ran.exists()
