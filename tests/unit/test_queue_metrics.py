"""Queue, live-state and FCR instruments, read back from their registry."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from metrics.fcr_metrics import FCRMetrics
from metrics.live_state import AGENT_STATES, LiveState, LiveStateCollector
from metrics.queue_metrics import QueueMetrics


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
    b = {"queue": "billing", "segment": "vip"}
    assert _value(registry, "switchboard_queue_offered_total", **b) == 3
    assert _value(registry, "switchboard_queue_answered_wait_seconds_bucket", **b, le="10.0") == 0
    assert _value(registry, "switchboard_queue_answered_wait_seconds_bucket", **b, le="20.0") == 1
    assert _value(registry, "switchboard_queue_short_abandoned_total", **b) == 1
    assert _value(registry, "switchboard_queue_abandoned_total", **b) == 1
    assert _value(registry, "switchboard_queue_abandoned_wait_seconds_sum", **b) == 40.0


def test_handle_time_transfers_and_decisions() -> None:
    """Handle time is talk plus wrap-up; transfers count per queue; decisions by result with their latency."""
    registry = CollectorRegistry()
    q = QueueMetrics(registry)
    q.handled("support", "gold", 100.0, 20.0)
    q.transferred("support")
    q.decision(0.0004, "assigned")
    q.decision(0.0009, "weird")
    assert _value(registry, "switchboard_queue_handle_seconds_sum", queue="support", segment="gold") == 120.0
    assert _value(registry, "switchboard_queue_transfers_total", queue="support") == 1
    assert _value(registry, "switchboard_routing_decisions_total", result="assigned") == 1
    assert _value(registry, "switchboard_routing_decisions_total", result="no_agent") == 1
    assert _value(registry, "switchboard_routing_decision_duration_seconds_bucket", le="0.0005") == 1


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


def test_live_state_without_snapshot_exports_nothing() -> None:
    """Before the router's first snapshot the gauges are absent, not zero (no false 'nobody logged in')."""
    registry = CollectorRegistry()
    LiveStateCollector(registry, lambda: None)
    assert registry.get_sample_value("switchboard_agents", {"state": "available"}) is None


def test_fcr_contacts_repeats_and_survey_answers() -> None:
    """Contacts and repeats count by labels; survey answers outside the question's scale are refused."""
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    fcr.contact("billing", "gold", "main")
    fcr.contact("billing", "gold", "main")
    fcr.repeat("billing", "gold", "main")
    fcr.survey("main", "resolved", "yes")
    fcr.survey("main", "csat", "5")
    labels = {"queue": "billing", "segment": "gold", "flow": "main"}
    assert _value(registry, "switchboard_fcr_contacts_total", **labels) == 2
    assert _value(registry, "switchboard_fcr_repeat_contacts_total", **labels) == 1
    assert _value(registry, "switchboard_survey_answers_total", flow="main", question="csat", answer="5") == 1
    with pytest.raises(ValueError):
        fcr.survey("main", "csat", "9")
