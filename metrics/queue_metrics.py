"""Queue instruments: calls offered, answered, abandoned (short abandons apart), waits, handle time, transfers,
and the router's decision latency — all on an injected registry, label children cached for the hot path
(one `_PairSeries` per queue × segment).

Labels come from closed sets only: `queue` from the route nodes' queue names, `segment` from cti.segments, `result`
from the router's fixed outcomes. The wait histograms have buckets at the configured service-level thresholds, so
service level is `answered_wait_seconds_bucket{le="20"} / (offered - short_abandoned)` with no estimation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

DECISION_RESULTS = ("assigned", "queued", "no_agent", "overflow")
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
HANDLE_BUCKETS = (30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
ESTIMATE_BUCKETS = (0.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0)
# actual wait minus the estimate at entry: negative = answered sooner than announced
ERROR_BUCKETS = (-300.0, -120.0, -60.0, -30.0, -10.0, 0.0, 10.0, 30.0, 60.0, 120.0, 300.0)
DECISION_BUCKETS = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1.0)
MAX_SERIES = 500  # queue × segment pairs; beyond it they are folded into queue="other"


@dataclass(frozen=True)
class _PairSeries:
    """The label children of one queue × segment pair, looked up once (`labels()` locks and builds a key per call)."""

    key: tuple[str, str]
    offered: Counter
    answered: Counter
    abandoned: Counter
    short: Counter
    answered_wait: Histogram
    abandoned_wait: Histogram
    handle: Histogram


class QueueMetrics:
    """What happens to calls once a route node offers them to agents."""

    def __init__(self, registry: CollectorRegistry, service_level_thresholds: Iterable[float] = (10, 20, 30, 60),
                 short_abandon_seconds: float = 5.0) -> None:
        self.short_abandon_seconds = short_abandon_seconds
        buckets = tuple(sorted(set(WAIT_BUCKETS) | {float(t) for t in service_level_thresholds}))
        labels = ["queue", "segment"]
        self._offered = Counter("switchboard_queue_offered_total", "Calls offered to agents by a route node",
                                labels, registry=registry)
        self._answered = Counter("switchboard_queue_answered_total", "Offered calls an agent answered", labels,
                                 registry=registry)
        self._abandoned = Counter("switchboard_queue_abandoned_total",
                                  "Callers who hung up while waiting, after the short-abandon threshold", labels,
                                  registry=registry)
        self._short = Counter("switchboard_queue_short_abandoned_total",
                              "Callers who hung up while waiting, before the short-abandon threshold", labels,
                              registry=registry)
        self._answered_wait = Histogram("switchboard_queue_answered_wait_seconds",
                                        "Time in line of answered calls (to the agent's answer)", labels,
                                        buckets=buckets, registry=registry)
        self._abandoned_wait = Histogram("switchboard_queue_abandoned_wait_seconds",
                                         "Time in line of callers who hung up while waiting", labels,
                                         buckets=buckets, registry=registry)
        self._handle = Histogram("switchboard_queue_handle_seconds", "Handle time: talk plus wrap-up", labels,
                                 buckets=HANDLE_BUCKETS, registry=registry)
        self._transfers = Counter("switchboard_queue_transfers_total", "Calls transferred out of a queue",
                                  ["queue"], registry=registry)
        self._decision_time = Histogram("switchboard_routing_decision_duration_seconds",
                                        "One routing decision, Redis round trip included", buckets=DECISION_BUCKETS,
                                        registry=registry)
        decisions = Counter("switchboard_routing_decisions_total", "Routing decisions by result", ["result"],
                            registry=registry)
        self._decisions = {r: decisions.labels(r) for r in DECISION_RESULTS}
        self._estimate = Histogram("switchboard_queue_estimated_wait_seconds",
                                   "Wait estimate a caller got on entering the line (known estimates only)", ["queue"],
                                   buckets=ESTIMATE_BUCKETS, registry=registry)
        self._unknown = Counter("switchboard_queue_estimate_unknown_total",
                                "Callers entering the line with too little data for an estimate", ["queue"],
                                registry=registry)
        self._error = Histogram("switchboard_queue_wait_estimate_error_seconds",
                                "Answered callers' actual wait minus their estimate at entry", ["queue"],
                                buckets=ERROR_BUCKETS, registry=registry)
        # with negative buckets prometheus_client exports no _sum: the absolute error gives the mean (sum / count)
        self._abs_error = Histogram("switchboard_queue_wait_estimate_abs_error_seconds",
                                    "Answered callers' |actual wait − estimate at entry|", ["queue"],
                                    buckets=tuple(b for b in ERROR_BUCKETS if b > 0), registry=registry)
        self._pairs: set[tuple[str, str]] = set()
        self._series: dict[tuple[str, str], _PairSeries] = {}  # by (queue, segment) as callers pass them
        self._transfer_queues: set[str] = set()

    def _key(self, queue: str, segment: str) -> tuple[str, str]:
        return self._pair(queue, segment).key

    def _pair(self, queue: str, segment: str) -> _PairSeries:
        """The cached children of one queue × segment (created at 0 on first sight; beyond the cap, queue="other")."""
        series = self._series.get((queue, segment))
        if series is not None:
            return series
        pair = (queue or "none", segment or "unknown")
        if pair not in self._pairs:
            if len(self._pairs) >= MAX_SERIES:
                pair = ("other", pair[1])
            else:
                self._pairs.add(pair)
                # every series of a new queue/segment starts at 0, so rates and ratios read 0, not "no data"
                for counter in (self._offered, self._answered, self._abandoned, self._short):
                    counter.labels(*pair)
                for histogram in (self._answered_wait, self._abandoned_wait, self._handle):
                    histogram.labels(*pair)  # service level = answered within T / offered: 0 when all abandon
                self._transfer_queue(pair[0])
        series = _PairSeries(pair, self._offered.labels(*pair), self._answered.labels(*pair),
                             self._abandoned.labels(*pair), self._short.labels(*pair),
                             self._answered_wait.labels(*pair), self._abandoned_wait.labels(*pair),
                             self._handle.labels(*pair))
        if len(self._series) < 2 * MAX_SERIES:  # bounded like the series (the names as given may differ: "" → none)
            self._series[(queue, segment)] = series
        return series

    def _transfer_queue(self, queue: str) -> str:
        """The `queue` label of per-queue series (transfers, wait estimates): its own cap, and no queue × segment
        series created on the side."""
        queue = queue or "none"
        if queue not in self._transfer_queues:
            if len(self._transfer_queues) >= MAX_SERIES:
                return "other"
            self._transfer_queues.add(queue)
            self._transfers.labels(queue)
            self._unknown.labels(queue)  # the wait-estimate series start at 0 too (their panels read 0, not "no data")
            for histogram in (self._estimate, self._error, self._abs_error):
                histogram.labels(queue)
        return queue

    def prepare(self, queues: Iterable[str], segments: Iterable[str]) -> None:
        """Creates every queue × segment series at 0 before the first call, so increase() counts the first one."""
        segments = list(segments)  # iterated once per queue
        for queue in queues:
            for segment in segments:
                self._key(queue, segment)

    def offered(self, queue: str, segment: str) -> None:
        self._pair(queue, segment).offered.inc()

    def answered(self, queue: str, segment: str, wait_seconds: float) -> None:
        series = self._pair(queue, segment)
        series.answered.inc()
        series.answered_wait.observe(max(0.0, wait_seconds))

    def abandoned(self, queue: str, segment: str, wait_seconds: float) -> None:
        series = self._pair(queue, segment)
        if wait_seconds < self.short_abandon_seconds:
            series.short.inc()
            return
        series.abandoned.inc()
        series.abandoned_wait.observe(wait_seconds)

    def handled(self, queue: str, segment: str, talk_seconds: float, wrap_up_seconds: float = 0.0) -> None:
        self._pair(queue, segment).handle.observe(max(0.0, talk_seconds) + max(0.0, wrap_up_seconds))

    def transferred(self, queue: str) -> None:
        self._transfers.labels(self._transfer_queue(queue)).inc()

    def estimated(self, queue: str, seconds: float | None) -> None:
        """The estimate a caller got on entering the line (None: unknown, too little data)."""
        label = self._transfer_queue(queue)
        if seconds is None:
            self._unknown.labels(label).inc()
        else:
            self._estimate.labels(label).observe(max(0.0, seconds))

    def estimate_error(self, queue: str, error_seconds: float) -> None:
        """An answered caller's actual wait minus the estimate at entry."""
        label = self._transfer_queue(queue)
        self._error.labels(label).observe(error_seconds)
        self._abs_error.labels(label).observe(abs(error_seconds))

    def decision(self, seconds: float, result: str) -> None:
        """One routing decision; a result outside DECISION_RESULTS counts as `no_agent` (the label set stays closed)."""
        self._decision_time.observe(seconds)
        self._decisions.get(result, self._decisions["no_agent"]).inc()
