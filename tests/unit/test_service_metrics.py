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
    m.commands_completed({"SAY ALPHA": [0.002]})
    assert _value(registry, "switchboard_agi_sessions_total", {"outcome": "error"}) == 1
    assert _value(registry, "switchboard_agi_command_duration_seconds_count", {"command": "other"}) == 1


def by_verb(timings: list[tuple[str, float]]) -> dict[str, list[float]]:
    """(verb, seconds) pairs as the listener hands them over: seconds by verb."""
    grouped: dict[str, list[float]] = {}
    for verb, seconds in timings:
        grouped.setdefault(verb, []).append(seconds)
    return grouped


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
    m.commands_completed({"ANSWER": [0.003, 0.0005, 100.0]})
    bucket = "switchboard_agi_command_duration_seconds_bucket"
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.0005"}) == 1  # le is inclusive
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.0025"}) == 1
    assert _value(registry, bucket, {"command": "ANSWER", "le": "0.005"}) == 2
    assert _value(registry, bucket, {"command": "ANSWER", "le": "60.0"}) == 2
    assert _value(registry, bucket, {"command": "ANSWER", "le": "+Inf"}) == 3
    assert _value(registry, "switchboard_agi_command_duration_seconds_count", {"command": "ANSWER"}) == 3
    assert abs(_value(registry, "switchboard_agi_command_duration_seconds_sum", {"command": "ANSWER"}) - 100.0035) < 1e-9


def test_bulk_fold_counts_every_command_once() -> None:
    """Folding timings in several batches gives a histogram whose counts equal the commands, verb by verb."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    verbs = ["ANSWER", "STREAM FILE", "GET DATA", "EXEC", "SAY ALPHA"]
    timings = [(verbs[i % len(verbs)], (i % 97) / 1000) for i in range(1000)]
    for start in range(0, len(timings), 137):  # uneven batches, as the sweep hands them over
        m.commands_completed(by_verb(timings[start:start + 137]))
    count = "switchboard_agi_command_duration_seconds_count"
    per_verb = {verb: _value(registry, count, {"command": verb}) for verb in verbs[:4] + ["other"]}
    assert per_verb == {"ANSWER": 200, "STREAM FILE": 200, "GET DATA": 200, "EXEC": 200, "other": 200}
    assert sum(per_verb.values()) == len(timings)
    total = _value(registry, "switchboard_agi_command_duration_seconds_sum", {"command": "ANSWER"})
    assert abs(total - sum(s for v, s in timings if v == "ANSWER")) < 1e-9


def test_bulk_fold_matches_one_at_a_time() -> None:
    """A fold of many timings fills the same buckets as observing them one by one."""
    bulk, single = CollectorRegistry(), CollectorRegistry()
    timings = [("GET VARIABLE", x / 400) for x in range(400)] + [("NOOP", 0.0005), ("NOOP", 61.0)]
    ServiceMetrics(bulk).commands_completed(by_verb(timings))
    one_by_one = ServiceMetrics(single)
    for verb, seconds in timings:
        one_by_one.commands_completed({verb: [seconds]})
    bucket = "switchboard_agi_command_duration_seconds_bucket"
    for verb in ("GET VARIABLE", "NOOP"):
        for le in ("0.0005", "0.001", "0.01", "0.1", "1.0", "60.0", "+Inf"):
            labels = {"command": verb, "le": le}
            assert _value(bulk, bucket, labels) == _value(single, bucket, labels), labels


def test_session_outcomes_are_plain_counts_read_at_scrape() -> None:
    """Every outcome of the closed set is exported (0 until counted); each end counts once."""
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)
    for outcome in ("completed", "completed", "hangup", "timeout"):
        m.session_started()
        m.session_ended(outcome)
    name = "switchboard_agi_sessions_total"
    assert [_value(registry, name, {"outcome": o}) for o in ("completed", "hangup", "timeout", "no_route", "error")] \
        == [2, 1, 1, 0, 0]
    assert registry.get_sample_value("switchboard_agi_sessions_created", {"outcome": "completed"}) is not None
