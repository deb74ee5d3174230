"""`GET /cti/agents/<id>/events`: each agent's screen pops as a Server-Sent Events stream.

The stream carries customer data, so it listens with the rest of the HTTP side (loopback by default) and is read
only by the agent it belongs to (their session cookie) or the API token holder (`Access.may(..., "agent", id)`).
An agent id the directory does not know is a 404. Each pop carries an SSE `id:`; a reconnecting client's
`Last-Event-ID` gets the pops it missed from cti's replay buffer. A comment line every `heartbeat` seconds keeps
proxies from closing an idle stream. Open streams are capped per agent and in total (`StreamSlots`): beyond, 503.
The streams themselves are cti's; this module only serves them.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Awaitable, Callable, Protocol

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.cti.screen_pop import StreamQueue
from switchboard.http_auth import Access
from switchboard.http_limits import StreamSlots

_AGENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

KnownAgent = Callable[[str], Awaitable[bool]]
"""Whether an agent id exists (the router's agent directory); without one any well-formed id is served."""


class AgentEventStreams(Protocol):
    """Where an open stream gets its queue of screen pops (cti's `AgentStreams` satisfies it)."""

    def subscribe(self, agent: str, after: int | None = None) -> StreamQueue: ...

    def unsubscribe(self, agent: str, queue: StreamQueue) -> None: ...


def last_event_id(request: Request) -> int | None:
    """The `Last-Event-ID` a reconnecting EventSource sends (None when absent or not ours)."""
    raw = (request.getHeader("last-event-id") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 20 else None


class AgentEventsResource(Resource):
    """/cti/agents/<id>/events."""

    def __init__(self, streams: AgentEventStreams, auth: Access, slots: StreamSlots, heartbeat: float = 15.0,
                 known: KnownAgent | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._streams = streams
        self._auth = auth
        self._slots = slots
        self._heartbeat = heartbeat
        self._known = known

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 (Twisted's name)
        return _AgentNode(self, path.decode("utf-8", "replace"))

    def render_stream(self, agent: str, request: Request) -> object:
        if not _AGENT.match(agent):
            request.setResponseCode(404)
            return b"unknown agent\n"
        if not self._auth.may(request, "agent", agent):
            if self._auth.principal(request) is None:
                request.setResponseCode(401)
                return b"missing or wrong bearer token\n"
            request.setResponseCode(403)
            return b"not your stream\n"
        if not self._slots.take(agent):
            request.setResponseCode(503)
            request.setHeader("Retry-After", "10")
            return b"too many open screen-pop streams\n"
        after = last_event_id(request)
        queues: list[StreamQueue] = []

        def open_stream() -> StreamQueue:
            request.setHeader("Content-Type", "text/event-stream")
            request.setHeader("Cache-Control", "no-cache")
            request.write(b": connected\n\n")
            queues.append(self._streams.subscribe(agent, after))
            return queues[0]

        async def pump(queue: StreamQueue | None) -> None:
            if queue is None:  # the directory is asked first
                if self._known is not None and not await self._known(agent):
                    request.setResponseCode(404)
                    request.write(b"unknown agent\n")
                    request.finish()
                    return
                queue = open_stream()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), self._heartbeat)
                except asyncio.TimeoutError:
                    request.write(b": heartbeat\n\n")
                    continue
                request.write(f"id: {event.id}\nevent: screenpop\ndata: {json.dumps(event.payload)}\n\n".encode())

        task = asyncio.ensure_future(pump(open_stream() if self._known is None else None))

        def gone(_: object) -> None:
            task.cancel()
            for queue in queues:
                self._streams.unsubscribe(agent, queue)
            self._slots.give_back(agent)
        request.notifyFinish().addBoth(gone)
        return NOT_DONE_YET


class _AgentNode(Resource):
    def __init__(self, parent: AgentEventsResource, agent: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._parent = parent
        self._agent = agent

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802
        if path == b"events":
            return _Stream(self._parent, self._agent)
        missing: Resource = Resource.getChild(self, path, request)  # Twisted's 404 page
        return missing


class _Stream(Resource):
    isLeaf = True

    def __init__(self, parent: AgentEventsResource, agent: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._parent = parent
        self._agent = agent

    def render_GET(self, request: Request) -> object:  # noqa: N802
        return self._parent.render_stream(self._agent, request)
