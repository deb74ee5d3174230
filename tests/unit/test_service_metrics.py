"""Unit tests of the service instruments: values read back from an injected registry, label sets stay closed."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from switchboard.metrics.service_metrics import ServiceMetrics


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_session_lifecycle_counts_active_and_outcomes() -> None:
    """Started sessions raise the active gauge; ended ones lower it and count their outcome."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    m.session_started()
    m.session_started()
    m.session_ended("completed")
    assert _value(registry, "switchboard_agi_sessions_active") == 1
    assert _value(registry, "switchboard_agi_sessions_total", {"outcome": "completed"}) == 1


def test_unknown_outcome_and_verb_fold_into_closed_labels() -> None:
    """An unexpected outcome counts as error and an unknown verb as other, so label sets never grow."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    m.session_started()
    m.session_ended("something-new")
    m.command_completed("SAY ALPHA", 0.002)
    assert _value(registry, "switchboard_agi_sessions_total", {"outcome": "error"}) == 1
    assert _value(registry, "switchboard_agi_command_duration_seconds_count", {"command": "other"}) == 1


def test_ami_state_and_rejections() -> None:
    """AMI link state, reconnects and rejected peers are exported as plain values."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    m.ami_state(True)
    m.ami_reconnected()
    m.peer_rejected()
    assert _value(registry, "switchboard_ami_connected") == 1
    assert _value(registry, "switchboard_ami_reconnects_total") == 1
    assert _value(registry, "switchboard_agi_rejected_peers_total") == 1


def test_command_latency_is_a_cumulative_histogram() -> None:
    """AGI command latencies land in cumulative le-buckets with the right _sum and _count."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    m.command_completed("ANSWER", 0.003)
    m.command_completed("ANSWER", 0.0005)
    m.command_completed("ANSWER", 100.0)
    bucket = "switchboard_agi_command_duration_seconds_bucket"
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.0005"}) == 1  # le is inclusive
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.0025"}) == 1
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.005"}) == 2
    assert _value(registry, bucket, {"command": "ANSWER", "le": "60.0"}) == 2
    assert _value(registry, bucket, {"command": "ANSWER", "le": "+Inf"}) == 3
    assert _value(registry, "switchboard_agi_command_duration_seconds_count", {"command": "ANSWER"}) == 3
    assert abs(_value(registry, "switchboard_agi_command_duration_seconds_sum", {"command": "ANSWER"}) - 100.0035) < 1e-9
