"""The router's heartbeat (router.liveness) on a scripted store and a hand-moved clock: deadlines and re-seeding."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from switchboard.router.liveness import Liveness, LivenessSettings, Reachability
from switchboard.router.route_store import Heartbeat, Reaped


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedStore:
    up: bool = True
    seeded: bool = True
    states: dict[str, str] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)

    async def heartbeat(self, instance: str, lease: float, cursor: str = "0") -> Heartbeat:
        if not self.up:
            raise ConnectionError("redis down")
        return Heartbeat(self.seeded, dict(self.states))

    async def reap(self, previous: str = "") -> Reaped:
        return Reaped(0, [])

    async def action(self, agent: str, action: str, reason: str = "") -> tuple[str, str]:
        self.actions.append((agent, action))
        return action, ""


@dataclass
class ScriptedRouter:
    given_up: list[str] = field(default_factory=list)
    reseeded: int = 0

    async def reseed(self) -> None:
        self.reseeded += 1

    def offer_made(self, uid: str, agent: str) -> None:
        return None

    def give_up_waiting(self, why: str) -> None:
        self.given_up.append(why)


def _liveness(store: ScriptedStore, router: ScriptedRouter, clock: Clock) -> Liveness:
    return Liveness(store, router, LivenessSettings("i1", 5.0, 1.0, 5.0), logging.getLogger("t"), clock=clock)


def test_reachability_is_lost_once_after_the_deadline_and_back_on_an_answer() -> None:
    """Silence shorter than the deadline is tolerated; past it `failed` says so once; an answer clears it."""
    clock = Clock()
    reach = Reachability(5.0, clock)
    clock.now += 4.9
    assert not reach.failed()
    clock.now += 0.2
    assert reach.failed() and reach.lost
    assert not reach.failed()  # said once
    assert reach.answered() and not reach.lost


async def test_callers_in_line_are_given_up_when_redis_stays_away_past_the_deadline() -> None:
    """Heartbeats fail: nothing happens for 5 s, then every caller in line is given up once, with the reason."""
    store, router, clock = ScriptedStore(), ScriptedRouter(), Clock()
    liveness = _liveness(store, router, clock)
    await liveness.beat()
    store.up = False
    for _ in range(4):
        clock.now += 1.0
        await liveness.beat()
    assert router.given_up == []
    clock.now += 1.5
    await liveness.beat()
    clock.now += 1.0
    await liveness.beat()
    assert router.given_up == ["router-unreachable"]
    store.up = True
    await liveness.beat()
    assert not liveness.reachability.lost


async def test_empty_redis_is_seeded_again_and_logins_restored() -> None:
    """The sentinel is gone: agents are seeded again, logged-in and paused agents restored, device states re-read."""
    store, router, clock = ScriptedStore(states={"a": "on_call", "b": "paused", "c": "logged_out"}), \
        ScriptedRouter(), Clock()
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)
    liveness = Liveness(store, router, LivenessSettings("i1"), logging.getLogger("t"), resync, clock)
    await liveness.beat()
    store.seeded, store.states = False, {"a": "logged_out", "b": "logged_out", "c": "logged_out"}
    await liveness.beat()
    assert router.reseeded == 1 and resyncs == [1] and router.given_up == ["router-state-lost"]
    assert store.actions == [("a", "login"), ("b", "login"), ("b", "pause")]
