"""`GET /cti/agents/<id>/events`: each agent's screen pops as a Server-Sent Events stream.

The stream carries customer data, so it listens with the rest of the HTTP side (loopback by default) and asks for
the bearer token like the control endpoints. A comment line every `heartbeat` seconds keeps proxies from closing an
idle stream. Open streams are capped per agent and in total (`StreamSlots`): beyond, 503. The streams themselves (one bounded queue per open stream) are cti's; this module only serves them.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Protocol

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.http_auth import BearerToken
from switchboard.http_limits import StreamSlots

_AGENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

ScreenPopQueue = asyncio.Queue[dict[str, Any]]


class AgentEventStreams(Protocol):
    """Where an open stream gets its queue of screen pops (cti's `AgentStreams` satisfies it)."""

    def subscribe(self, agent: str) -> ScreenPopQueue: ...

    def unsubscribe(self, agent: str, queue: ScreenPopQueue) -> None: ...


class AgentEventsResource(Resource):
    """/cti/agents/<id>/events."""

    def __init__(self, streams: AgentEventStreams, auth: BearerToken, slots: StreamSlots,
                 heartbeat: float = 15.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._streams = streams
        self._slots = slots
        self._auth = auth
        self._heartbeat = heartbeat

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 (Twisted's name)
        return _AgentNode(self, path.decode("utf-8", "replace"))

    def render_stream(self, agent: str, request: Request) -> object:
        if not self._auth.allows(request):
            request.setResponseCode(401)
            return b"missing or wrong bearer token\n"
        if not _AGENT.match(agent):
            request.setResponseCode(404)
            return b"unknown agent\n"
        if not self._slots.take(agent):
            request.setResponseCode(503)
            request.setHeader("Retry-After", "10")
            return b"too many open screen-pop streams\n"
        request.setHeader("Content-Type", "text/event-stream")
        request.setHeader("Cache-Control", "no-cache")
        request.write(b": connected\n\n")
        queue = self._streams.subscribe(agent)

        async def pump() -> None:
            while True:
                try:
                    payload = await asyncio.wait_for(queue.get(), self._heartbeat)
                except asyncio.TimeoutError:
                    request.write(b": heartbeat\n\n")
                    continue
                request.write(f"event: screenpop\ndata: {json.dumps(payload)}\n\n".encode())

        task = asyncio.ensure_future(pump())

        def gone(_: object) -> None:
            task.cancel()
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
