"""The callback instruments: callbacks offered, accepted, attempted (by outcome), connected and failed, per queue.

`CallbackMetrics` satisfies the callback desk's events port (router/callback_desk.py `CallbackEvents`)
structurally. Labels come from closed sets: the route nodes' queues, and `ATTEMPT_OUTCOMES` (anything else counts
as `failed`). `prepare(queues)` creates every child at 0, so rates read 0, not "no data".
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import CollectorRegistry, Counter

ATTEMPT_OUTCOMES = ("answered", "busy", "no-answer", "failed", "agent-missed", "interrupted")


class CallbackMetrics:
    """`switchboard_callbacks_{offered,accepted,connected,failed}_total{queue}` and
    `switchboard_callback_attempts_total{queue,outcome}` on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._offered = Counter("switchboard_callbacks_offered_total",
                                "Callers in line offered a callback", ["queue"], registry=registry)
        self._accepted = Counter("switchboard_callbacks_accepted_total",
                                 "Callback requests made (the caller took the offer and gave a number)", ["queue"],
                                 registry=registry)
        self._attempts = Counter("switchboard_callback_attempts_total",
                                 "Callback attempts by outcome (answered, busy, no-answer, failed, agent-missed, "
                                 "interrupted)", ["queue", "outcome"], registry=registry)
        self._connected = Counter("switchboard_callbacks_connected_total",
                                  "Callback requests that ended with agent and customer bridged", ["queue"],
                                  registry=registry)
        self._failed = Counter("switchboard_callbacks_failed_total",
                               "Callback requests given up after their last attempt", ["queue"], registry=registry)

    def prepare(self, queues: Iterable[str]) -> None:
        """Every queue's series start at 0."""
        for queue in queues:
            self._offered.labels(queue)
            self._accepted.labels(queue)
            self._connected.labels(queue)
            self._failed.labels(queue)
            for outcome in ATTEMPT_OUTCOMES:
                self._attempts.labels(queue, outcome)

    def offered(self, queue: str) -> None:
        self._offered.labels(queue).inc()

    def accepted(self, queue: str) -> None:
        self._accepted.labels(queue).inc()

    def attempted(self, queue: str, outcome: str) -> None:
        self._attempts.labels(queue, outcome if outcome in ATTEMPT_OUTCOMES else "failed").inc()

    def connected(self, queue: str) -> None:
        self._connected.labels(queue).inc()

    def failed(self, queue: str) -> None:
        self._failed.labels(queue).inc()
