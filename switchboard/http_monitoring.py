"""What monitoring reads over HTTP: `/metrics`, `/healthz` (alive) and `/readyz` (dependencies up).

The exposition renders the injected registry with prometheus_client, in the text or the OpenMetrics format as the
scraper's `Accept` header asks, in a forked child process (`MetricsRenderer`, switchboard/metrics_rendering.py) so
that a large scrape never stalls a call. Readiness is a set of named asynchronous checks passed in by the
composition root (e.g. AMI logged in, Redis reachable); each must answer within its own time budget or counts as
failed. Nothing here changes state.
"""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.metrics_rendering import ForkedRendering, RenderingFailed

ReadinessCheck = Callable[[], Awaitable[bool]]


class MetricsRenderer:
    """Renders the registry in a forked child process (switchboard/metrics_rendering.py), never on the event loop
    nor on a thread of this process: the service's GIL is not held while 40k samples are formatted. Scrapes that
    arrive while a rendering of the same format is under way share it (one child for all of them).

    A 40k-sample OpenMetrics rendering takes ~0.3 s of CPU: on the loop every call would stall that long, on a
    worker thread every call waits for the GIL (bench/scrape_impact.py measures what each way costs the calls).
    """

    def __init__(self, registry: CollectorRegistry, deadline: float = 10.0,
                 rendering: ForkedRendering | None = None) -> None:
        self.rendering = rendering or ForkedRendering(registry, deadline)
        self._in_flight: dict[str, asyncio.Future[bytes]] = {}

    def render(self, accept: str) -> tuple[asyncio.Future[bytes], str]:
        """The exposition for an `Accept` header (text or OpenMetrics), as a future, and its content type. The
        future raises `RenderingFailed` (a collector raised) or `RenderingUnavailable` (no child, or too slow)."""
        encoder, content_type = choose_encoder(accept)
        running = self._in_flight.get(content_type)
        if running is not None:
            return running, content_type
        future = self.rendering.start(encoder)
        if not future.done():
            self._in_flight[content_type] = future
            future.add_done_callback(lambda _: self._in_flight.pop(content_type, None))
        return future, content_type


class MetricsResource(Resource):
    """Prometheus exposition of one registry (text or OpenMetrics, as the scraper asks), rendered out of process:
    500 when a collector is broken, 503 when no rendering could be had in time (never a hung scrape)."""

    isLeaf = True

    def __init__(self, renderer: MetricsRenderer) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._renderer = renderer

    def render_GET(self, request: Request) -> object:  # noqa: N802
        future, content_type = self._renderer.render(request.getHeader("accept") or "")
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def done(finished: asyncio.Future[bytes]) -> None:
            if gone:
                return
            error = None if finished.cancelled() else finished.exception()
            if finished.cancelled() or error is not None:
                broken = isinstance(error, RenderingFailed)
                request.setResponseCode(500 if broken else 503)
                request.setHeader("Content-Type", "text/plain; charset=utf-8")
                if not broken:
                    request.setHeader("Retry-After", "1")
                request.write(b"metrics rendering failed\n" if broken else b"metrics rendering unavailable\n")
            else:
                request.setHeader("Content-Type", content_type)
                request.write(finished.result())
            request.finish()
        future.add_done_callback(done)
        return NOT_DONE_YET


class HealthResource(Resource):
    """Liveness: answers 200 while the event loop turns."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        request.setHeader("Content-Type", "application/json")
        return b'{"status": "alive"}\n'


class ReadinessResource(Resource):
    """Readiness: 200 when every check passes within `timeout`, else 503; the body names each check's result."""

    isLeaf = True

    def __init__(self, checks: Mapping[str, ReadinessCheck], timeout: float = 1.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._checks = dict(checks)
        self._timeout = timeout

    async def results(self) -> dict[str, bool]:
        async def one(check: ReadinessCheck) -> bool:
            try:
                return bool(await asyncio.wait_for(check(), self._timeout))
            except (asyncio.TimeoutError, OSError, ConnectionError):
                return False
            except Exception:  # a failing dependency client must make us "not ready", never crash the endpoint
                return False
        values = await asyncio.gather(*(one(c) for c in self._checks.values()))
        return dict(zip(self._checks, values))

    def render_GET(self, request: Request) -> object:  # noqa: N802
        def done(results: dict[str, bool]) -> None:
            ready = all(results.values())
            request.setResponseCode(200 if ready else 503)
            request.setHeader("Content-Type", "application/json")
            request.write(json.dumps({"ready": ready, "checks": results}).encode() + b"\n")
            request.finish()
        Deferred.fromFuture(asyncio.ensure_future(self.results())).addCallback(done)
        return NOT_DONE_YET

