"""What the supervisor wallboard shows, put together from what the metrics already have.

Per queue: calls waiting and the longest wait (the router's Redis snapshot, the very `LiveState` the Prometheus
collector exports), and today's answered, abandoned and service level (the queue counters of the metrics
registry, counted from local midnight or from the service's start, whichever is later). Per agent: state and time
in state (the router's agent records). Service level here is answered within T / (answered + abandoned after the
short-abandon threshold), T being 20 s when configured, else the first threshold (docs/metrics.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Awaitable, Callable, Protocol, Sequence

from prometheus_client import CollectorRegistry

from switchboard.metrics.live_state import LiveState

STALE_AFTER = 10.0  # seconds without a fresh router snapshot before the board says so


class AgentRow(Protocol):
    """One agent record (the router's `AgentRecord` satisfies it)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def since_ms(self) -> int: ...


@dataclass
class _Totals:
    answered: float = 0.0
    abandoned: float = 0.0
    within: float = 0.0


@dataclass
class TodayCounts:
    """Today's per-queue counts, read from the registry's queue counters against a midnight baseline."""

    registry: CollectorRegistry
    threshold: float
    today: Callable[[], date] = date.today
    _day: date | None = None
    _baseline: dict[str, _Totals] = field(default_factory=dict)

    def _totals(self) -> dict[str, _Totals]:
        out: dict[str, _Totals] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                queue = sample.labels.get("queue")
                if queue is None:
                    continue
                row = out.setdefault(queue, _Totals())
                if sample.name == "switchboard_queue_answered_total":
                    row.answered += sample.value
                elif sample.name == "switchboard_queue_abandoned_total":
                    row.abandoned += sample.value
                elif sample.name == "switchboard_queue_answered_wait_seconds_bucket" \
                        and sample.labels.get("le") not in (None, "+Inf") \
                        and abs(float(sample.labels["le"]) - self.threshold) < 1e-9:
                    row.within += sample.value
        return out

    def counts(self) -> dict[str, _Totals]:
        totals = self._totals()
        day = self.today()
        if self._day is None:
            self._day = day  # counters start at 0 with the process: no baseline needed
        elif day != self._day:
            self._day, self._baseline = day, totals
        out: dict[str, _Totals] = {}
        for queue, t in totals.items():
            base = self._baseline.get(queue, _Totals())
            out[queue] = _Totals(t.answered - base.answered, t.abandoned - base.abandoned, t.within - base.within)
        return out


def service_level_threshold(thresholds: Sequence[float]) -> float:
    return 20.0 if 20.0 in thresholds else float(thresholds[0])


class Wallboard:
    """`await wallboard.snapshot()`: the JSON-ready picture the wallboard page draws."""

    def __init__(self, live: Callable[[], LiveState | None], agents: Callable[[], Awaitable[Sequence[AgentRow]]],
                 today: TodayCounts, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._live = live
        self._agents = agents
        self._today = today
        self._clock = clock
        self._wall = wall

    async def snapshot(self) -> dict[str, Any]:
        live = self._live()
        counts = self._today.counts()
        now_ms = int(self._wall() * 1000)
        queues = sorted(set(live.waiting if live else {}) | set(counts))
        rows = []
        for q in queues:
            c = counts.get(q, _Totals())
            handled = c.answered + c.abandoned
            rows.append({"queue": q, "waiting": live.waiting.get(q, 0) if live else None,
                         "longest_wait": round(live.longest_wait.get(q, 0.0), 1) if live else None,
                         "answered": int(c.answered), "abandoned": int(c.abandoned),
                         "service_level": round(c.within / handled, 3) if handled else None})
        agents = [{"id": a.id, "name": a.name, "state": a.state, "reason": a.reason,
                   "in_state_seconds": max(0, (now_ms - a.since_ms) // 1000) if a.since_ms else None}
                  for a in await self._agents()]
        stale = live is None or self._clock() - live.taken_at > STALE_AFTER
        return {"queues": rows, "agents": agents, "states": dict(live.agents) if live else {},
                "threshold_seconds": self._today.threshold, "stale": stale, "at": round(self._wall(), 1)}
