"""Queue and live-state instruments, read back from their registry."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

import switchboard.metrics.queue_metrics as queue_metrics
from switchboard.metrics.live_state import AGENT_STATES, LiveState, LiveStateCollector
from switchboard.metrics.queue_metrics import QueueMetrics

BILLING = {"queue": "billing", "segment": "vip"}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_service_level_buckets_and_short_abandons() -> None:
    """An answer at 12 s falls in le=20 not le=10; a 3 s hang-up is a short abandon, a 40 s one is abandoned."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry, service_level_thresholds=(10, 20), short_abandon_seconds=5)
    for _ in range(3):
        q.offered("billing", "vip")
    q.answered("billing", "vip", 12.0)
    q.abandoned("billing", "vip", 3.0)
    q.abandoned("billing", "vip", 40.0)
    assert _value(registry, "switchboard_queue_offered_total", **BILLING) == 3
    assert _value(registry, "switchboard_queue_answered_total", **BILLING) == 1
    assert _value(registry, "switchboard_queue_answered_wait_seconds_bucket", **BILLING, le="10.0") == 0
    assert _value(registry, "switchboard_queue_answered_wait_seconds_bucket", **BILLING, le="20.0") == 1
    assert _value(registry, "switchboard_queue_short_abandoned_total", **BILLING) == 1
    assert _value(registry, "switchboard_queue_abandoned_total", **BILLING) == 1
    assert _value(registry, "switchboard_queue_abandoned_wait_seconds_count", **BILLING) == 1
    assert _value(registry, "switchboard_queue_abandoned_wait_seconds_sum", **BILLING) == 40.0


def test_service_level_from_the_registry_matches_the_formula() -> None:
    """Answered within 20 s / (offered − short abandons) read from the samples: 2 of 4 offered, 1 short → 2/3."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    for _ in range(4):
        q.offered("billing", "vip")
    q.answered("billing", "vip", 4.0)
    q.answered("billing", "vip", 20.0)  # exactly at the threshold: within (buckets are ≤)
    q.abandoned("billing", "vip", 1.0)
    q.abandoned("billing", "vip", 25.0)
    within = _value(registry, "switchboard_queue_answered_wait_seconds_bucket", **BILLING, le="20.0")
    offered = _value(registry, "switchboard_queue_offered_total", **BILLING)
    short = _value(registry, "switchboard_queue_short_abandoned_total", **BILLING)
    assert within / (offered - short) == pytest.approx(2 / 3)
    assert _value(registry, "switchboard_queue_abandoned_total", **BILLING) / offered == 0.25


def test_short_abandon_threshold_is_exclusive() -> None:
    """A hang-up after exactly the short-abandon threshold is a real abandon; just below it is a short one."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry, short_abandon_seconds=5.0)
    q.abandoned("billing", "vip", 5.0)
    q.abandoned("billing", "vip", 4.99)
    assert _value(registry, "switchboard_queue_abandoned_total", **BILLING) == 1
    assert _value(registry, "switchboard_queue_short_abandoned_total", **BILLING) == 1


def test_thresholds_are_merged_into_the_wait_buckets() -> None:
    """A configured threshold (25 s) becomes a bucket; the 20 s bucket the recording rules read stays."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry, service_level_thresholds=(25,))
    q.answered("billing", "vip", 22.0)
    q.abandoned("billing", "vip", 22.0)
    for name in ("switchboard_queue_answered_wait_seconds_bucket", "switchboard_queue_abandoned_wait_seconds_bucket"):
        assert _value(registry, name, **BILLING, le="20.0") == 0
        assert _value(registry, name, **BILLING, le="25.0") == 1
        assert registry.get_sample_value(name, {**BILLING, "le": "600.0"}) == 1


def test_handle_time_transfers_and_decisions() -> None:
    """Handle time is talk plus wrap-up; transfers count per queue; decisions by result with their latency."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    q.handled("support", "gold", 100.0, 20.0)
    q.transferred("support")
    q.decision(0.0004, "assigned")
    q.decision(0.0009, "weird")
    assert _value(registry, "switchboard_queue_handle_seconds_sum", queue="support", segment="gold") == 120.0
    assert _value(registry, "switchboard_queue_handle_seconds_count", queue="support", segment="gold") == 1
    assert _value(registry, "switchboard_queue_transfers_total", queue="support") == 1
    assert _value(registry, "switchboard_routing_decisions_total", result="assigned") == 1
    assert _value(registry, "switchboard_routing_decisions_total", result="no_agent") == 1
    assert registry.get_sample_value("switchboard_routing_decisions_total", {"result": "weird"}) is None
    assert _value(registry, "switchboard_routing_decision_duration_seconds_bucket", le="0.0005") == 1
    assert _value(registry, "switchboard_routing_decision_duration_seconds_bucket", le="5e-05") == 0


def test_every_decision_result_exists_at_zero() -> None:
    """All four decision results are exported from the start, so their rates read 0, not "no data"."""
    registry = CollectorRegistry()
    QueueMetrics(registry)
    for result in ("assigned", "queued", "no_agent", "overflow"):
        assert registry.get_sample_value("switchboard_routing_decisions_total", {"result": result}) == 0


def test_prepare_creates_every_series_at_zero() -> None:
    """prepare() makes each queue × segment series (and the queue's transfers) exist at 0 before the first call."""
    registry = CollectorRegistry()
    QueueMetrics(registry).prepare(["billing"], ["vip", "standard"])
    for segment in ("vip", "standard"):
        for name in ("offered", "answered", "abandoned", "short_abandoned"):
            labels = {"queue": "billing", "segment": segment}
            assert registry.get_sample_value(f"switchboard_queue_{name}_total", labels) == 0
    assert registry.get_sample_value("switchboard_queue_transfers_total", {"queue": "billing"}) == 0


def test_prepare_accepts_one_shot_iterables() -> None:
    """Segments given as a generator still reach every queue (prepare does not exhaust them on the first one)."""
    registry = CollectorRegistry()
    QueueMetrics(registry).prepare(["billing", "support"], (s for s in ("vip",)))
    assert registry.get_sample_value("switchboard_queue_offered_total", {"queue": "support", "segment": "vip"}) == 0


def test_a_transfer_creates_no_queue_segment_series() -> None:
    """A transfer from the IVR counts under queue="ivr" without inventing an offered/answered series for it."""
    registry = CollectorRegistry()
    QueueMetrics(registry).transferred("ivr")
    assert _value(registry, "switchboard_queue_transfers_total", queue="ivr") == 1
    assert registry.get_sample_value("switchboard_queue_offered_total", {"queue": "ivr", "segment": "unknown"}) is None


def test_series_beyond_the_cap_fold_into_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_SERIES queue × segment pairs, new queues count as queue="other" (the label set stays bounded)."""
    monkeypatch.setattr(queue_metrics, "MAX_SERIES", 2)
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    for queue in ("a", "b", "c"):
        q.offered(queue, "vip")
    q.transferred("a")
    q.transferred("b")
    q.transferred("c")
    assert _value(registry, "switchboard_queue_offered_total", queue="other", segment="vip") == 1
    assert registry.get_sample_value("switchboard_queue_offered_total", {"queue": "c", "segment": "vip"}) is None
    assert _value(registry, "switchboard_queue_transfers_total", queue="other") == 1


def test_empty_labels_get_placeholders() -> None:
    """A call without a queue or segment is counted under "none"/"unknown", never under an empty label."""
    registry = CollectorRegistry()
    QueueMetrics(registry).offered("", "")
    assert _value(registry, "switchboard_queue_offered_total", queue="none", segment="unknown") == 1


def test_live_state_exports_every_agent_state_and_snapshot_age() -> None:
    """Every agent state is present (0 when none); waiting, longest wait and the snapshot's age come through."""
    registry = CollectorRegistry()
    state = LiveState({"billing": 4}, {"billing": 75.0}, {"available": 2, "on_call": 3}, taken_at=100.0)
    LiveStateCollector(registry, lambda: state, clock=lambda: 102.5)
    assert _value(registry, "switchboard_queue_waiting_calls", queue="billing") == 4
    assert _value(registry, "switchboard_queue_longest_wait_seconds", queue="billing") == 75.0
    assert [_value(registry, "switchboard_agents", state=s) for s in AGENT_STATES] == [0, 2, 0, 0, 3, 0, 0]
    assert registry.get_sample_value("switchboard_agents", {"state": "paused"}) == 0
    assert _value(registry, "switchboard_live_state_age_seconds") == 2.5


def test_live_state_keeps_the_label_sets_closed() -> None:
    """An unknown agent state is not exported; a queue known only by its longest wait shows 0 waiting."""
    registry = CollectorRegistry()
    state = LiveState({}, {"support": 3.0}, {"dancing": 1, "paused": 1}, taken_at=5.0)
    LiveStateCollector(registry, lambda: state, clock=lambda: 5.0)
    assert registry.get_sample_value("switchboard_agents", {"state": "dancing"}) is None
    assert registry.get_sample_value("switchboard_agents", {"state": "paused"}) == 1
    assert registry.get_sample_value("switchboard_queue_waiting_calls", {"queue": "support"}) == 0
    assert registry.get_sample_value("switchboard_queue_longest_wait_seconds", {"queue": "support"}) == 3.0


def test_live_state_age_is_never_negative() -> None:
    """A snapshot stamped a little after the scrape's clock reading reports age 0, not a negative age."""
    registry = CollectorRegistry()
    LiveStateCollector(registry, lambda: LiveState(taken_at=10.0), clock=lambda: 9.5)
    assert registry.get_sample_value("switchboard_live_state_age_seconds") == 0


def test_live_state_reads_the_snapshot_once_per_scrape() -> None:
    """A scrape calls the snapshot function exactly once (it is a memory read; no Redis, no waiting)."""
    calls: list[int] = []

    def snapshot() -> LiveState:
        calls.append(1)
        return LiveState({"billing": 1}, {"billing": 2.0}, {}, taken_at=0.0)

    registry = CollectorRegistry()
    LiveStateCollector(registry, snapshot, clock=lambda: 0.0)
    calls.clear()  # registration may describe; only scrapes count
    list(registry.collect())
    assert calls == [1]


def test_live_state_without_snapshot_exports_nothing() -> None:
    """Before the router's first snapshot the gauges are absent, not zero (no false 'nobody logged in')."""
    registry = CollectorRegistry()
    LiveStateCollector(registry, lambda: None)
    assert registry.get_sample_value("switchboard_agents", {"state": "available"}) is None
    assert registry.get_sample_value("switchboard_live_state_age_seconds") is None


def test_live_state_refuses_a_second_registration() -> None:
    """Two live-state collectors on one registry are an error (duplicate series), not a silent double export."""
    registry = CollectorRegistry()
    LiveStateCollector(registry, lambda: None)
    with pytest.raises(ValueError):
        LiveStateCollector(registry, lambda: None)


def test_prepare_creates_the_wait_histograms_at_zero() -> None:
    """prepare() creates the answered/abandoned wait and handle histograms at 0, so service level reads 0 (not no
    data) when every caller abandons (issue 14, defect 10)."""
    registry = CollectorRegistry()
    metrics = QueueMetrics(registry)
    metrics.prepare(["billing"], ["vip"])
    metrics.offered("billing", "vip")
    metrics.abandoned("billing", "vip", 60.0)
    labels = {"queue": "billing", "segment": "vip"}
    assert registry.get_sample_value("switchboard_queue_answered_wait_seconds_bucket", dict(labels, le="20.0")) == 0
    assert registry.get_sample_value("switchboard_queue_answered_wait_seconds_count", labels) == 0
    assert registry.get_sample_value("switchboard_queue_handle_seconds_count", labels) == 0


def test_wait_estimates_and_their_error_per_queue() -> None:
    """Known estimates fill the estimate histogram, unknown ones a counter; errors (actual − estimate) are signed."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    q.estimated("billing", 90.0)
    q.estimated("billing", None)
    q.estimate_error("billing", -20.0)
    q.estimate_error("billing", 5.0)
    assert _value(registry, "switchboard_queue_estimated_wait_seconds_bucket", queue="billing", le="120.0") == 1
    assert _value(registry, "switchboard_queue_estimate_unknown_total", queue="billing") == 1
    assert _value(registry, "switchboard_queue_wait_estimate_error_seconds_bucket", queue="billing", le="-10.0") == 1
    assert _value(registry, "switchboard_queue_wait_estimate_error_seconds_bucket", queue="billing", le="10.0") == 2
    assert _value(registry, "switchboard_queue_wait_estimate_abs_error_seconds_sum", queue="billing") == 25.0
    assert _value(registry, "switchboard_queue_wait_estimate_abs_error_seconds_count", queue="billing") == 2


def test_cached_pair_children_count_the_same_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated calls for a pair reuse its children; queues past the cap share queue="other" (cached or not)."""
    monkeypatch.setattr(queue_metrics, "MAX_SERIES", 1)
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    for queue in ("billing", "billing", "c", "d", "c"):
        q.offered(queue, "vip")
    q.answered("billing", "vip", 12.0)
    q.handled("billing", "vip", 60.0, 5.0)
    q.abandoned("d", "vip", 30.0)
    assert _value(registry, "switchboard_queue_offered_total", **BILLING) == 2
    assert _value(registry, "switchboard_queue_offered_total", queue="other", segment="vip") == 3
    assert _value(registry, "switchboard_queue_answered_total", **BILLING) == 1
    assert _value(registry, "switchboard_queue_handle_seconds_sum", **BILLING) == 65.0
    assert _value(registry, "switchboard_queue_abandoned_total", queue="other", segment="vip") == 1
