"""Unit tests of the one HTTP layer: the URL tree, the single bearer check, /metrics, /readyz, reload and SSE."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from twisted.web.resource import Resource, getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from switchboard.cti.screen_pop import AgentStreams
from switchboard.http_auth import Access, BearerToken
from switchboard.http_dialplans import ReloadResource
from switchboard.http_limits import StreamSlots
from switchboard.http_monitoring import MetricsRenderer, MetricsResource, ReadinessResource
from switchboard.http_screen_pops import AgentEventsResource
from switchboard.http_site import AgentControls, HttpCollaborators, build_root
from switchboard.ivr.dialplan_registry import ReloadResult

WAIT = 5.0


class _Request(DummyRequest):
    """A DummyRequest that lets a test await its next write instead of polling."""

    def __init__(self, postpath: list[bytes]) -> None:
        super().__init__(postpath)
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.wrote.set()


def _request(path: bytes, method: bytes = b"GET", auth: bytes | None = None, accept: bytes | None = None) -> _Request:
    request = _Request(path.strip(b"/").split(b"/"))
    request.method = method
    if auth is not None:
        request.requestHeaders.addRawHeader(b"authorization", auth)
    if accept is not None:
        request.requestHeaders.addRawHeader(b"accept", accept)
    return request


async def _finished(request: DummyRequest) -> None:
    await request.notifyFinish().asFuture(asyncio.get_running_loop())


def _render(resource: Resource, request: DummyRequest) -> object:
    return resource.render(request)  # type: ignore[no-untyped-call]


def _root(token: str = "s3cret", streams: AgentStreams | None = None, **parts: Any) -> Resource:
    return build_root(HttpCollaborators(registry=CollectorRegistry(), token=token,
                                        agent_streams=streams or AgentStreams(), **parts))


def test_bearer_token_is_the_one_check() -> None:
    """No token allows all; with one, only `Authorization: Bearer <token>` passes and the token is never shown."""
    assert BearerToken("").allows(_request(b"/x"))
    token = BearerToken("s3cret")
    assert token.allows(_request(b"/x", auth=b"Bearer s3cret"))
    assert not token.allows(_request(b"/x", auth=b"Bearer wrong"))
    assert not token.allows(_request(b"/x"))
    assert "s3cret" not in repr(token)


def test_tree_serves_every_url_and_leaves_out_absent_parts() -> None:
    """The root routes each URL to its resource; without dialplans or router their URLs are 404s."""
    async def reload(reason: str) -> ReloadResult:
        return ReloadResult(True, "v", False, ())

    async def listing() -> list[Any]:
        return []

    async def act(agent: str, action: str, reason: str) -> str:
        return "ready"

    full = _root(reload=reload, agents=AgentControls(listing, act))
    for path in (b"/metrics", b"/healthz", b"/readyz", b"/dialplans/reload", b"/agents",
                 b"/cti/agents/a1/events"):
        request = _request(path)
        child = getChildForRequest(full, request)
        assert child.isLeaf or path == b"/agents", path
    bare = _root()
    for path in (b"/dialplans/reload", b"/agents"):
        request = _request(path)
        assert _render(getChildForRequest(bare, request), request) is not NOT_DONE_YET
        assert request.responseCode == 404


async def test_metrics_negotiates_text_or_openmetrics() -> None:
    """/metrics renders the injected registry as Prometheus text, or OpenMetrics when the scraper asks for it."""
    registry = CollectorRegistry()
    Counter("switchboard_test_things_total", "things", registry=registry).inc()
    resource = MetricsResource(MetricsRenderer(registry))
    text = _request(b"/metrics")
    assert _render(resource, text) is NOT_DONE_YET
    await _finished(text)
    body = b"".join(text.written)
    assert b"switchboard_test_things_total 1.0" in body
    assert (text.responseHeaders.getRawHeaders(b"content-type") or [b""])[0].startswith(b"text/plain")
    om = _request(b"/metrics", accept=b"application/openmetrics-text; version=1.0.0")
    assert _render(resource, om) is NOT_DONE_YET
    await _finished(om)
    body = b"".join(om.written)
    assert body.endswith(b"# EOF\n")
    assert (om.responseHeaders.getRawHeaders(b"content-type") or [b""])[0].startswith(b"application/openmetrics-text")


async def test_metrics_rendering_failure_is_a_500() -> None:
    """A collector that raises gives the scraper a 500, not a hung request."""
    class Broken(Collector):
        def collect(self) -> Iterator[Metric]:
            raise RuntimeError("collector exploded")

    registry = CollectorRegistry()
    registry.register(Broken())
    request = _request(b"/metrics")
    _render(MetricsResource(MetricsRenderer(registry)), request)
    await _finished(request)
    assert request.responseCode == 500


async def test_readiness_is_503_when_a_check_fails_or_hangs() -> None:
    """/readyz answers 200 when every check passes, 503 naming the check that failed, raised or timed out."""
    async def up() -> bool:
        return True

    async def broken() -> bool:
        raise RuntimeError("client exploded")

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    ready = _request(b"/readyz")
    assert _render(ReadinessResource({"redis": up}), ready) is NOT_DONE_YET
    await _finished(ready)
    assert ready.responseCode == 200 and b'"ready": true' in b"".join(ready.written)
    not_ready = _request(b"/readyz")
    _render(ReadinessResource({"redis": up, "ami": broken, "crm": hangs}, timeout=0.01), not_ready)
    await _finished(not_ready)
    assert not_ready.responseCode == 503
    assert b'"checks": {"redis": true, "ami": false, "crm": false}' in b"".join(not_ready.written)


async def test_reload_endpoint_requires_the_token() -> None:
    """With a token configured, a POST without the right bearer token is refused before any reload."""
    calls: list[str] = []

    async def reload(reason: str) -> ReloadResult:
        calls.append(reason)
        return ReloadResult(True, "v", False, ())

    resource = ReloadResource(reload, BearerToken("s3cret"))
    request = DummyRequest([b""])
    request.method = b"POST"
    request.requestHeaders.addRawHeader(b"authorization", b"Bearer wrong")
    assert b"bearer token" in resource.render_POST(request)  # type: ignore[operator]
    assert request.responseCode == 401 and calls == []


async def test_reload_endpoint_reports_the_result() -> None:
    """With the token, POST reloads (reason "http") and answers 422 with every problem when rejected."""
    calls: list[str] = []

    async def reload(reason: str) -> ReloadResult:
        calls.append(reason)
        return ReloadResult(False, "v1", False, ("main.yaml:3:5: unknown node 'byee'",))

    request = _request(b"/dialplans/reload", b"POST", auth=b"Bearer s3cret")
    assert ReloadResource(reload, BearerToken("s3cret")).render_POST(request) is NOT_DONE_YET
    await _finished(request)
    assert calls == ["http"] and request.responseCode == 422
    assert b"".join(request.written) == (b'{"ok": false, "version": "v1", "changed": false, '
                                         b'"problems": ["main.yaml:3:5: unknown node \'byee\'"]}\n')


def test_screen_pop_stream_needs_the_token_and_a_sane_agent_id() -> None:
    """The SSE stream refuses a wrong token (401) and an agent id outside the safe pattern (404)."""
    streams = AgentStreams()
    resource = AgentEventsResource(streams, Access(BearerToken("s3cret")), StreamSlots(10, 2))
    request = _request(b"/a1/events", auth=b"Bearer nope")
    assert resource.render_stream("a1", request) == b"missing or wrong bearer token\n"
    assert request.responseCode == 401
    request = _request(b"/x/events", auth=b"Bearer s3cret")
    assert resource.render_stream("../etc", request) == b"unknown agent\n"
    assert request.responseCode == 404 and streams.subscribers == {}


async def test_screen_pop_stream_delivers_pops_and_unsubscribes_when_closed() -> None:
    """A connected stream gets each pop as an SSE `screenpop` event; closing it removes its queue."""
    streams = AgentStreams()
    root = _root(streams=streams)
    request = _request(b"/cti/agents/a1/events", auth=b"Bearer s3cret")
    assert _render(getChildForRequest(root, request), request) is NOT_DONE_YET
    assert request.written == [b": connected\n\n"]
    request.wrote.clear()
    assert streams.publish("a1", {"customer": "C1"}) == 1
    await request.wrote.wait()
    event_id = streams.recent("a1")[-1].id
    assert request.written[-1] == f'id: {event_id}\nevent: screenpop\ndata: {{"customer": "C1"}}\n\n'.encode()
    request.finish()
    assert streams.subscribers["a1"] == set()


async def test_screen_pop_streams_are_capped_per_agent_and_in_total() -> None:
    """Beyond the per-agent or the total cap a stream is refused with 503; a closed stream frees its slot."""
    streams = AgentStreams()
    resource = AgentEventsResource(streams, Access(BearerToken("")), StreamSlots(total=3, per_agent=2))

    def open_stream(agent: str) -> _Request:
        request = _request(f"/{agent}/events".encode())
        resource.render_stream(agent, request)
        return request

    a1 = [open_stream("a1"), open_stream("a1")]
    assert all(r.responseCode != 503 for r in a1)
    third = open_stream("a1")
    assert third.responseCode == 503 and len(streams.subscribers["a1"]) == 2
    a2 = open_stream("a2")
    assert a2.responseCode != 503
    assert open_stream("a3").responseCode == 503  # total cap
    a1[0].finish()
    assert open_stream("a3").responseCode != 503
    assert open_stream("a1").responseCode == 503  # total cap again: a1[1], a2 and a3 are open


@pytest.mark.parametrize("auth", [None, b"Bearer wrong"])
def test_every_state_change_shares_the_one_check(auth: bytes | None) -> None:
    """Reload, agent actions and the SSE stream all refuse the same missing or wrong token with 401."""
    async def reload(reason: str) -> ReloadResult:
        raise AssertionError("must not reload")

    async def listing() -> list[Any]:
        return []

    async def act(agent: str, action: str, reason: str) -> str:
        raise AssertionError("must not act")

    root = _root(reload=reload, agents=AgentControls(listing, act))
    for path, method in ((b"/dialplans/reload", b"POST"), (b"/agents/a1/pause", b"POST"),
                         (b"/cti/agents/a1/events", b"GET")):
        request = _request(path, method, auth=auth)
        body = _render(getChildForRequest(root, request), request)
        assert request.responseCode == 401 and isinstance(body, bytes) and b"bearer token" in body, path
