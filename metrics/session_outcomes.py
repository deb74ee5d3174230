"""FastAGI sessions by how they ended, counted in plain ints on the event loop and exposed at scrape time.

A call's end is counted once per call; a prometheus-client Counter takes a lock on every `inc`, several times the
cost of adding one to an int. Here the listener's observer adds to a dict of ints and this collector turns it into
`switchboard_agi_sessions_total{outcome}` when Prometheus scrapes (a forked child renders it, reading a snapshot of
the ints; see switchboard/metrics_rendering.py). The label set is closed: an outcome outside it counts as "error".
"""
from __future__ import annotations

import time
from typing import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry


class SessionOutcomes(Collector):
    """`switchboard_agi_sessions_total{outcome}`; `counts` is the dict the observer adds to."""

    name = "switchboard_agi_sessions"
    documentation = "FastAGI sessions by how they ended"

    def __init__(self, registry: CollectorRegistry, outcomes: Iterable[str]) -> None:
        self.counts: dict[str, int] = {outcome: 0 for outcome in outcomes}
        self.counts.setdefault("error", 0)
        self._created = time.time()
        registry.register(self)

    def count(self, outcome: str) -> None:
        """One session ended with `outcome` (outside the closed set: "error")."""
        counts = self.counts
        counts[outcome if outcome in counts else "error"] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["outcome"])
        for outcome, value in list(self.counts.items()):
            family.add_metric([outcome], value, created=self._created)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=["outcome"])
