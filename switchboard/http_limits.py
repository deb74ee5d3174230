"""The HTTP side's resource limits, so that no HTTP client can take the descriptors or the disk the calls need.

* idle connections close after `idle_timeout` seconds (Twisted's default keeps them 12 hours);
* at most `max_connections` connections are open at once: the next one is accepted and closed at once, and the
  cap is lowered further when the process's open-file limit leaves less than `descriptor_reserve` descriptors
  for FastAGI, AMI and Redis (`connection_cap`);
* a request body over `max_body_bytes` is refused with 413 before it is read: a larger `Content-Length` is
  answered as soon as the headers end, a chunked body as soon as it passes the limit; bodies are kept in memory,
  never in a temporary file;
* screen-pop streams (SSE) are capped per agent and in total (`StreamSlots`), answered 503 beyond.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

_TOO_LARGE = (b"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
              b"Connection: close\r\n\r\nrequest body too large\r\n")


@dataclass(frozen=True)
class HttpLimits:
    """The limits of the HTTP side (settings `http.*`, documented in settings.example.yaml)."""

    idle_timeout: float = 30.0
    max_connections: int = 256
    max_body_bytes: int = 1024 * 1024
    max_streams: int = 200
    max_streams_per_agent: int = 4


def connection_cap(wanted: int, open_file_limit: int, descriptor_reserve: int) -> int:
    """The HTTP connection cap that leaves `descriptor_reserve` descriptors free under the open-file limit
    (negative: unlimited)."""
    if open_file_limit < 0:
        return wanted
    return max(1, min(wanted, open_file_limit - descriptor_reserve))


class StreamSlots:
    """Counts open screen-pop streams; `take(agent)` is False when the agent's or the total cap is reached."""

    def __init__(self, total: int, per_agent: int) -> None:
        self._total = total
        self._per_agent = per_agent
        self._open: dict[str, int] = {}

    @property
    def open(self) -> int:
        """Streams open now, all agents together."""
        return sum(self._open.values())

    def take(self, agent: str) -> bool:
        if self.open >= self._total or self._open.get(agent, 0) >= self._per_agent:
            return False
        self._open[agent] = self._open.get(agent, 0) + 1
        return True

    def give_back(self, agent: str) -> None:
        left = self._open.get(agent, 0) - 1
        if left > 0:
            self._open[agent] = left
        else:
            self._open.pop(agent, None)


class LimitedSite(Site):
    """A twisted.web Site with an idle timeout, a connection cap and a request-body limit."""

    def __init__(self, root: Resource, limits: HttpLimits, reactor: IReactorTime | None = None) -> None:
        super().__init__(root, requestFactory=_LimitedRequest, timeout=limits.idle_timeout,  # type: ignore[no-untyped-call]
                         reactor=reactor)
        self.protocol = _LimitedChannel  # type: ignore[assignment]  # plain HTTP/1.1 (no h2 negotiation)
        self.limits = limits
        self.open_connections = 0
        self.refused_connections = 0

    def buildProtocol(self, addr: IAddress | None) -> Any:  # noqa: N802 (Twisted's name)
        """None (Twisted then closes the new connection at once) when `max_connections` are open."""
        if self.open_connections >= self.limits.max_connections:
            self.refused_connections += 1
            return None
        self.open_connections += 1
        return super().buildProtocol(addr)  # type: ignore[no-untyped-call]  # twisted.web.server: unannotated

    def connection_closed(self) -> None:
        self.open_connections -= 1


class _LimitedChannel(HTTPChannel):
    """HTTP/1.1 channel that answers 413 to an oversized `Content-Length` before reading any of the body."""

    factory: LimitedSite

    def allHeadersReceived(self) -> None:  # noqa: N802 (Twisted's name)
        length: int | None = self.length
        request: _LimitedRequest = self.requests[-1]
        if length is not None and length > self.factory.limits.max_body_bytes:
            request.refuse()
            return
        super().allHeadersReceived()  # type: ignore[no-untyped-call]  # twisted.web.http is unannotated here

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802 (Twisted's name)
        self.factory.connection_closed()
        super().connectionLost(reason)  # type: ignore[no-untyped-call]  # twisted.web.http is unannotated here


class _LimitedRequest(Request):
    """A request whose body stays in memory and is cut off (413) when a chunked body passes the limit."""

    channel: _LimitedChannel
    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
        self.content = io.BytesIO()  # never a temporary file: the channel refused anything larger than the limit

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.channel.factory.limits.max_body_bytes:
            self.refuse()
            return
        super().handleContentChunk(data)  # type: ignore[no-untyped-call]  # twisted.web.http is unannotated here

    def refuse(self) -> None:
        """Answers 413 on the raw connection and closes it; the request never reaches a resource."""
        self._refused = True
        self.content = io.BytesIO()
        transport = self.channel.transport
        if transport is not None and not getattr(transport, "disconnecting", False):
            transport.write(_TOO_LARGE)
            self.channel.loseConnection()  # type: ignore[no-untyped-call]  # twisted.web.http is unannotated

    def process(self) -> None:
        """Renders the resource, unless the body was refused (the 413 is already sent)."""
        if not self._refused:
            super().process()  # type: ignore[no-untyped-call]  # twisted.web.server is unannotated here
