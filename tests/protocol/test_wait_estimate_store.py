"""Wait estimates from the router's own view on a real redis-server: place in line, eligible agents, handle times."""
from __future__ import annotations

import asyncio
import logging
import random

import pytest
from redis.asyncio import Redis

from switchboard.router.call_router import CallRouter
from switchboard.router.decision import CallView, priority, requirement
from switchboard.router.route_store import P, RouteStore
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment
from tests.protocol.test_route_store import PROFILES, _redis_now


@pytest.fixture
async def store(redis: Redis) -> RouteStore:
    return RouteStore(redis, reservation_ttl=30)


async def _agent(store: RouteStore, agent_id: str, skills: dict[str, int], langs: tuple[str, ...] = ("en",),
                 action: str | None = "login") -> None:
    await store.upsert_agent(AgentSeed(agent_id, agent_id.title(), f"PJSIP/{agent_id}", skills, langs))
    if action:
        await store.action(agent_id, "login")
        if action != "login":
            await store.action(agent_id, action)


async def test_line_view_counts_place_and_only_agents_who_could_take_the_call(store: RouteStore) -> None:
    """Calls queued behind two busy billing agents get places 1..3; too-low, other-language, paused and logged-out
    agents are not counted; a call not in line has place 0."""
    await _agent(store, "a1", {"billing": 5})
    await _agent(store, "a2", {"billing": 8})
    await _agent(store, "low", {"sales": 9, "billing": 1})
    await _agent(store, "fr", {"billing": 9}, ("fr",))
    await _agent(store, "resting", {"billing": 9}, action="pause")
    await _agent(store, "home", {"billing": 9}, action=None)
    for uid in ("c0", "c0b"):  # the two english billing agents get these
        await store.offer(uid, {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    for uid in ("c1", "c2", "c3"):
        got = await store.offer(uid, {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
        assert got.status == "queued"
    assert [await store.line_view(u, "billing", {"billing": 3}, "en") for u in ("c1", "c2", "c3")] == [
        (1, 2), (2, 2), (3, 2)]
    assert await store.line_view("c0", "billing", {"billing": 3}, "en") == (0, 2)


async def test_ticket_estimate_unknown_until_handle_times_are_known(store: RouteStore) -> None:
    """A waiting ticket's estimate has its place and no seconds until three handle times were seen, then
    (residual of the calls in progress + (place − 1) × mean handle time) / eligible agents; a finished call adds
    its handle time to the queue's window."""
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, wrap_up=0)
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    await _agent(store, "a1", {"billing": 5})
    first = await router.request("c0", skills={"billing": 1}, language="", segment="standard", customer="",
                                 priority=0, relaxation=None, queue="billing")
    assert await first.estimate() is None  # an agent is reserved: not waiting
    second = await router.request("c1", skills={"billing": 1}, language="", segment="standard", customer="",
                                  priority=0, relaxation=None, queue="billing")
    unknown = await second.estimate()
    assert unknown is not None and (unknown.position, unknown.seconds) == (1, None)
    for seconds in (100.0, 120.0, 140.0):
        router.handle_times.record("billing", seconds)
    known = await second.estimate()
    residual = (100.0 ** 2 + 120.0 ** 2 + 140.0 ** 2) / 3 / (2 * 120.0)  # E[S²] / 2E[S]: first in line, one agent
    assert known is not None and known.seconds == pytest.approx(residual)
    offer = await first.wait()
    assert offer is not None and offer.agent == "a1"
    await first.finished("a1")  # the agent was kept from the line from the offer on: one more handle time
    assert len(router.handle_times.recent("billing")) == 4
    for ticket in (first, second):
        await ticket.leave()


STEP_TIMES = (20.0, 30.0, 60.0, 150.0)  # PROFILES' step times: ages near them are avoided (no step due mid-check)


def _places(calls: dict[str, tuple[CallView, str]], now: float) -> dict[str, int]:
    """Brute force with router/decision.py's rules: 1 + the waiting calls in a line of this call's index skill (in
    its language or none; any when it asks none) with a higher priority now, ties to the earlier enqueue then the
    lower uid; 0 when the call overflowed (out of line). A call in two lines of that skill counts twice."""
    needs = {uid: requirement(view, now - view.enqueued) for uid, (view, _) in calls.items()}

    def line_skill(uid: str) -> str:
        ix = calls[uid][1]
        return ix if ix in needs[uid].levels else next(iter(needs[uid].levels))

    places = {}
    for uid, (me, _) in calls.items():
        if needs[uid].overflow:
            places[uid] = 0
            continue
        skill, mine = line_skill(uid), priority(me, now)
        ahead = 0
        for other, (view, _) in calls.items():
            if other == uid or needs[other].overflow:
                continue
            if me.language and view.language not in (me.language, ""):
                continue
            levels = {max(1, needs[other].levels[skill])} if line_skill(other) == skill else set()
            lines = len(levels | ({1} if skill in needs[other].added else set()))  # its distinct lines of `skill`
            theirs = priority(view, now)
            if theirs > mine + 2e-4 or (abs(theirs - mine) <= 2e-4 and (view.enqueued, other) < (me.enqueued, uid)):
                ahead += lines
        places[uid] = ahead + 1
    return places


async def test_line_position_matches_a_brute_force_count_of_the_specification(store: RouteStore,
                                                                             redis: Redis) -> None:
    """On random lines (one or two skills, index skills, levels, languages, priorities, aging rates, relaxation
    profiles, ages up to past overflow), each call's place from line_position.lua equals the brute-force count over
    every waiting call with router/decision.py's priority (checked at Redis's time before and after the script)."""
    rng = random.Random(15)
    skills = ["billing", "support", "sales"]
    checked = ties = 0
    for trial in range(25):
        await redis.flushdb()
        now_ms = int(await _redis_now(redis) * 1000)
        ages = [a for a in rng.sample(range(0, 180_000), 200)
                if all(abs(a / 1000 - t) > 1.0 for t in STEP_TIMES)][:30]
        calls: dict[str, tuple[CallView, str]] = {}
        for i, age in enumerate(ages):
            need = {s: rng.randint(1, 9) for s in rng.sample(skills, rng.choice([1, 1, 2]))}
            uid = f"t{trial}c{i:02d}"
            index = rng.choice(list(need))
            base, aging = rng.choice([10.0, 50.0, 100.0]), rng.choice([0.0, 0.5, 1.0])
            steps, language = rng.choice(PROFILES), rng.choice(["", "", "en", "fr"])
            got = await store.offer(uid, need, steps, language, base, aging, "", "", "billing", "standard",
                                    index=index)
            assert got.status == "queued"
            if i % 7 == 3 and calls:  # some calls enqueued at the same moment as another: the tie rules
                age = now_ms - int(next(reversed(calls.values()))[0].enqueued * 1000)
                ties += 1
            await redis.hset(P + "call:" + uid, "enq", now_ms - age)
            await store.retry(uid)  # indexed for the age it has now
            calls[uid] = (CallView(uid, need, (now_ms - age) / 1000, base, aging, language, steps), index)
        for uid in calls:
            before = _places(calls, await _redis_now(redis))
            position, _ = await store.line_position(uid)
            after = _places(calls, await _redis_now(redis))
            assert position in (before[uid], after[uid]), (trial, uid, position, before[uid], after[uid])
            checked += 1
    assert checked == 750 and ties > 50


async def test_line_view_reads_the_agents_at_most_once_per_period(store: RouteStore, redis: Redis) -> None:
    """Eligible-agent counts come from a roster read once per period: an agent logging in is counted only after
    the period (a scripted clock), and repeated estimates in between issue no per-agent reads."""
    clock = [0.0]
    cached = RouteStore(redis, reservation_ttl=30, roster_ttl=5.0, clock=lambda: clock[0])
    await _agent(store, "a1", {"billing": 5})
    await _agent(store, "a2", {"billing": 5}, action=None)
    await store.offer("c0", {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    await store.offer("c1", {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    assert await cached.line_view("c1", "billing", {"billing": 3}, "en") == (1, 1)
    await store.action("a2", "login")  # a2 takes nothing: c1 goes to it
    await store.offer("c2", {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    clock[0] = 4.9
    assert await cached.line_view("c2", "billing", {"billing": 3}, "en") == (1, 1)  # roster still 4.9 s old
    clock[0] = 5.0
    assert await cached.line_view("c2", "billing", {"billing": 3}, "en") == (1, 2)


async def test_many_estimates_at_once_read_the_roster_once(store: RouteStore, redis: Redis) -> None:
    """Fifty concurrent estimates with a stale roster issue one roster read (one HGETALL of `states`), not fifty."""
    await _agent(store, "a1", {"billing": 5})
    await store.offer("c0", {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    await store.offer("c1", {"billing": 3}, (), "en", 10.0, 0.0, "", "", "billing", "standard")
    await redis.config_resetstat()
    views = await asyncio.gather(*(store.line_view("c1", "billing", {"billing": 3}, "en") for _ in range(50)))
    assert set(views) == {(1, 1)}
    stats = await redis.info("commandstats")
    assert stats["cmdstat_hgetall"]["calls"] == 1
