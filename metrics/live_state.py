"""Live contact-centre state read at scrape time: calls waiting and longest wait per queue, agents per state.

The router keeps a snapshot fresh from Redis (a few seconds old at most) and this collector only reads it: a
scrape never waits on Redis. Every Switchboard instance reads the same Redis and so exports the same values:
dashboards and rules aggregate these gauges with `max`, never `sum` (counters, which each instance counts for its
own calls, are the ones to `sum`). `switchboard_live_state_age_seconds` tells how old the snapshot is.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

AGENT_STATES = ("logged_out", "available", "reserved", "ringing", "on_call", "wrap_up", "paused")


@dataclass(frozen=True)
class LiveState:
    """One reading of Redis: `taken_at` on the monotonic clock; longest waits in seconds."""

    waiting: dict[str, int] = field(default_factory=dict)
    longest_wait: dict[str, float] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    taken_at: float = 0.0


class LiveStateCollector(Collector):
    """Exports the latest `LiveState` at scrape time; `collect()` only reads memory (no Redis, no I/O).

    Before the first snapshot (`snapshot()` returns None) the families are empty: an absent series, not a false
    "nobody logged in". With a snapshot every agent state is present, 0 when nobody is in it.
    """

    def __init__(self, registry: CollectorRegistry, snapshot: Callable[[], LiveState | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._snapshot = snapshot
        self._clock = clock
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._snapshot()
        waiting, longest, agents, age = _families()
        if state is not None:
            for queue in sorted(set(state.waiting) | set(state.longest_wait)):
                waiting.add_metric([queue], state.waiting.get(queue, 0))
                longest.add_metric([queue], state.longest_wait.get(queue, 0.0))
            for name in AGENT_STATES:
                agents.add_metric([name], state.agents.get(name, 0))
            age.add_metric([], max(0.0, self._clock() - state.taken_at))
        yield waiting
        yield longest
        yield agents
        yield age

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The four names, so the registry refuses a second collector (or instrument) exporting them."""
        return iter(_families())


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (GaugeMetricFamily("switchboard_queue_waiting_calls", "Calls waiting for an agent now (aggregate with max)",
                              labels=["queue"]),
            GaugeMetricFamily("switchboard_queue_longest_wait_seconds",
                              "How long the longest-waiting call of the queue has waited (aggregate with max)",
                              labels=["queue"]),
            GaugeMetricFamily("switchboard_agents", "Agents in each state now (aggregate with max)",
                              labels=["state"]),
            GaugeMetricFamily("switchboard_live_state_age_seconds", "Age of this instance's live-state snapshot"))
