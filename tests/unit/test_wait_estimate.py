"""The wait estimator (router.wait_estimate) on scripted histories."""
from __future__ import annotations

import pytest

from switchboard.router.wait_estimate import HandleTimes, WaitEstimate, estimate_wait


def test_too_little_data_is_unknown() -> None:
    """Fewer handle times than the minimum, or no eligible agent, give an unknown estimate (position still told)."""
    assert estimate_wait(3, 2, [120.0, 130.0]) == WaitEstimate(3, None, 2, 2)
    assert estimate_wait(3, 0, [120.0] * 10).seconds is None
    assert estimate_wait(2, 1, [], min_samples=0).seconds is None


def test_position_times_handle_time_over_agents() -> None:
    """p × mean handle time / N: third in line, two agents, 120 s handle times → 180 s."""
    estimate = estimate_wait(3, 2, [100.0, 120.0, 140.0])
    assert estimate.position == 3 and estimate.seconds == pytest.approx(180.0)
    assert estimate_wait(1, 4, [60.0] * 5).seconds == pytest.approx(15.0)


def test_window_keeps_only_recent_handle_times_per_queue() -> None:
    """The window forgets old handle times, keeps queues apart, and ignores impossible values."""
    times = HandleTimes(window=3)
    for seconds in (600.0, 60.0, 60.0, 60.0, -5.0, 0.0):
        times.record("billing", seconds)
    times.record("sales", 300.0)
    assert times.recent("billing") == (60.0, 60.0, 60.0)
    assert times.recent("sales") == (300.0,)
    assert times.recent("nobody") == ()


def test_scripted_run_error_stays_small() -> None:
    """On a scripted line served by 2 agents with steady 100-140 s handle times, the estimate at entry of each
    caller is within 30% of the wait a first-come-first-served simulation gives."""
    handle = [100.0, 140.0, 120.0, 110.0, 130.0] * 8
    times = HandleTimes()
    errors = []
    served = 0
    # 30 callers arrive at once behind a busy pair of agents; each answer frees an agent after its handle time
    agents_free_at = [60.0, 120.0]
    for h in handle[:6]:
        times.record("q", h)
    for position in range(1, 31):
        estimate = estimate_wait(position, 2, times.recent("q"))
        first = min(range(2), key=lambda i: agents_free_at[i])
        actual = agents_free_at[first]
        agents_free_at[first] = actual + handle[served % len(handle)]
        served += 1
        assert estimate.seconds is not None
        errors.append(abs(actual - estimate.seconds) / max(actual, 1.0))
    assert max(errors[5:]) < 0.3
