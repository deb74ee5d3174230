"""What monitoring reads over HTTP: `/metrics`, `/healthz` (alive) and `/readyz` (dependencies up).

The exposition renders the injected registry with prometheus_client, in the text or the OpenMetrics format as the
scraper's `Accept` header asks, on a worker thread (`MetricsRenderer`) so that a large scrape never stalls a call. Readiness is a set of named asynchronous checks passed in by the composition root
(e.g. AMI logged in, Redis reachable); each must answer within its own time budget or counts as failed. Nothing
here changes state.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

ReadinessCheck = Callable[[], Awaitable[bool]]


class MetricsRenderer:
    """Renders the registry on one worker thread, never on the event loop; scrapes that arrive while a rendering
    of the same format is under way share it.

    Thread safety: prometheus_client's instruments take their own locks; our collectors (metrics/live_state.py,
    metrics/command_latency.py) only read memory that the loop replaces whole (the router's snapshot) or only
    increments (the latency counters), so a rendering may miss an observation made while it runs, never breaks.
    A 40k-sample OpenMetrics rendering takes ~0.4 s of CPU: on the loop every call would stall that long
    (bench/scrape_impact.py measures what it costs the calls on the worker thread).
    """

    def __init__(self, registry: CollectorRegistry, executor: Executor | None = None) -> None:
        self._registry = registry
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-render")
        self._owned = executor is None
        self._in_flight: dict[str, asyncio.Future[bytes]] = {}

    def render(self, accept: str) -> tuple[asyncio.Future[bytes], str]:
        """The exposition for an `Accept` header (text or OpenMetrics), as a future, and its content type."""
        encoder, content_type = choose_encoder(accept)
        running = self._in_flight.get(content_type)
        if running is not None:
            return running, content_type
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, encoder, self._registry)
        self._in_flight[content_type] = future
        future.add_done_callback(lambda _: self._in_flight.pop(content_type, None))
        return future, content_type

    def close(self) -> None:
        """Stops the worker thread (a rendering under way finishes first)."""
        if self._owned:
            self._executor.shutdown(wait=False)


class MetricsResource(Resource):
    """Prometheus exposition of one registry (text or OpenMetrics, as the scraper asks), rendered off the loop."""

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
            if finished.cancelled() or finished.exception() is not None:
                request.setResponseCode(500)
                request.setHeader("Content-Type", "text/plain; charset=utf-8")
                request.write(b"metrics rendering failed\n")
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

