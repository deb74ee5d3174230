"""Unit tests of the wallboard snapshot: live waiting from the router's state, today's counts from the metrics."""
from __future__ import annotations

from datetime import date

from prometheus_client import CollectorRegistry

from switchboard.metrics.live_state import LiveState
from switchboard.metrics.queue_metrics import QueueMetrics
from switchboard.router.route_store import AgentRecord
from switchboard.wallboard import TodayCounts, Wallboard


async def test_snapshot_per_queue_and_agent_and_midnight_reset() -> None:
    """Waiting and longest wait come from the live state; answered, abandoned and service level restart at midnight."""
    registry = CollectorRegistry()
    queues = QueueMetrics(registry, (10, 20, 30, 60), short_abandon_seconds=5)
    queues.answered("billing", "vip", 12)   # within 20 s
    queues.answered("billing", "standard", 45)
    queues.abandoned("billing", "standard", 30)
    queues.abandoned("billing", "standard", 2)  # short: not counted
    day = [date(2026, 12, 2)]
    today = TodayCounts(registry, 20.0, today=lambda: day[0])

    async def agents() -> list[AgentRecord]:
        return [AgentRecord("osman", "Osman", "PJSIP/desk4", "paused", "lunch", "", "en", 40_000, "")]
    live = LiveState({"billing": 2}, {"billing": 31.04}, {"paused": 1}, taken_at=99.0)
    board = Wallboard(lambda: live, agents, today, clock=lambda: 100.0, wall=lambda: 100.0)
    snap = await board.snapshot()
    billing = next(q for q in snap["queues"] if q["queue"] == "billing")
    assert billing == {"queue": "billing", "waiting": 2, "longest_wait": 31.0, "answered": 2, "abandoned": 1,
                       "service_level": round(1 / 3, 3)}
    assert snap["agents"] == [{"id": "osman", "name": "Osman", "state": "paused", "reason": "lunch",
                               "in_state_seconds": 60}]
    assert not snap["stale"] and snap["threshold_seconds"] == 20.0
    day[0] = date(2026, 12, 3)
    billing = next(q for q in (await board.snapshot())["queues"] if q["queue"] == "billing")
    assert (billing["answered"], billing["abandoned"], billing["service_level"]) == (0, 0, None)
    queues.answered("billing", "vip", 3)
    billing = next(q for q in (await board.snapshot())["queues"] if q["queue"] == "billing")
    assert (billing["answered"], billing["service_level"]) == (1, 1.0)


async def test_no_router_snapshot_yet_is_stale() -> None:
    """Before the router's first snapshot the board says the live numbers are not there (not a false zero)."""
    async def agents() -> list[AgentRecord]:
        return []
    board = Wallboard(lambda: None, agents, TodayCounts(CollectorRegistry(), 20.0))
    snap = await board.snapshot()
    assert snap["stale"] and snap["queues"] == []
