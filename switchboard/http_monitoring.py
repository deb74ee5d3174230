"""What monitoring reads over HTTP: `/metrics`, `/healthz` (alive) and `/readyz` (dependencies up).

The exposition renders the injected registry with prometheus_client, in the text or the OpenMetrics format as the
scraper's `Accept` header asks. Readiness is a set of named asynchronous checks passed in by the composition root
(e.g. AMI logged in, Redis reachable); each must answer within its own time budget or counts as failed. Nothing
here changes state.
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

ReadinessCheck = Callable[[], Awaitable[bool]]


class MetricsResource(Resource):
    """Prometheus exposition of one registry (text or OpenMetrics, as the scraper asks)."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        accept = (request.getHeader("accept") or "")
        encoder, content_type = choose_encoder(accept)
        request.setHeader("Content-Type", content_type)
        return encoder(self._registry)


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

