"""The router's Lua against a real redis-server: assignments, priorities, relaxation, expiry, and no double booking."""
from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from redis.asyncio import Redis

from switchboard.cli import main as cli
from switchboard.router.call_router import CallRouter, index_skill, levels_by_skill
from switchboard.router.decision import AgentView, CallView, best_agent, best_call
from switchboard.router.device_batch import fold
from switchboard.router.route_store import P, RouteStore
from switchboard.router.routing_config import AgentSeed, RelaxStep, RoutingConfig, Segment
from tests.e2e.sandbox import RedisServer


@pytest.fixture
async def store(redis: Redis) -> RouteStore:
    return RouteStore(redis, reservation_ttl=30)


async def _agent(store: RouteStore, agent_id: str, skills: dict[str, int], langs: tuple[str, ...] = ("en",),
                 login: bool = True) -> None:
    await store.upsert_agent(AgentSeed(agent_id, agent_id.title(), f"PJSIP/{agent_id}", skills, langs))
    if login:
        await store.action(agent_id, "login")


async def _offer(store: RouteStore, uid: str, skills: dict[str, int], base: float = 10, aging: float = 0,
                 steps: tuple[RelaxStep, ...] = (), language: str = "", preferred: str = "",
                 queue: str = "billing"):
    return await store.offer(uid, skills, steps, language, base, aging, "", preferred, queue, "standard")


async def _backdate(redis: Redis, uid: str, seconds: float) -> None:
    """Pretends the call has waited `seconds` (moves its enqueue time back; scores follow on the next enqueue)."""
    enq = int(await redis.hget(P + "call:" + uid, "enq"))
    await redis.hset(P + "call:" + uid, "enq", enq - int(seconds * 1000))


async def test_best_level_then_longest_idle(store: RouteStore) -> None:
    """Among free agents the highest level in the first skill wins; equal levels go to the longest idle."""
    await _agent(store, "a1", {"billing": 5})
    await _agent(store, "a2", {"billing": 8})
    await _agent(store, "a3", {"billing": 8})
    first = await _offer(store, "c1", {"billing": 3})
    second = await _offer(store, "c2", {"billing": 3})
    third = await _offer(store, "c3", {"billing": 3})
    assert (first.status, first.agent, first.endpoint) == ("assigned", "a2", "PJSIP/a2")
    assert [second.agent, third.agent] == ["a3", "a1"]
    assert (await _offer(store, "c4", {"billing": 3})).status == "queued"


async def test_level_language_and_preferred_agent(store: RouteStore) -> None:
    """Too-low levels and missing languages are skipped; the customer's last agent is preferred when able."""
    await _agent(store, "low", {"billing": 2})
    await _agent(store, "fr", {"billing": 9}, ("fr",))
    await _agent(store, "en", {"billing": 4})
    await _agent(store, "en2", {"billing": 7})
    assert (await _offer(store, "c1", {"billing": 3}, language="en", preferred="en")).agent == "en"
    assert (await _offer(store, "c2", {"billing": 3}, language="en")).agent == "en2"
    assert (await _offer(store, "c3", {"billing": 3}, language="en")).status == "queued"


async def test_freed_agent_takes_highest_priority_call_not_fifo(store: RouteStore, redis: Redis) -> None:
    """With everyone busy, a VIP call that arrives later is given the next free agent before a standard call."""
    await _agent(store, "a1", {"billing": 5}, login=False)
    assert (await _offer(store, "standard", {"billing": 1}, base=10, aging=0.5)).status == "queued"
    assert (await _offer(store, "vip", {"billing": 1}, base=100, aging=1.0)).status == "queued"
    state, uid = await store.action("a1", "login")
    assert (state, uid) == ("available", "vip")
    assert await store.call_state("vip") == ("offered", "a1")
    assert "agent freed" in (await store.explain("vip"))[-1]


async def test_aging_lets_a_long_wait_overtake(store: RouteStore, redis: Redis) -> None:
    """A standard call that has waited long enough outranks a fresh gold call (priority grows with waiting)."""
    await _agent(store, "a1", {"billing": 5}, login=False)
    await _offer(store, "old", {"billing": 1}, base=10, aging=1.0)
    await _offer(store, "gold", {"billing": 1}, base=50, aging=0.5)
    await redis.hset(P + "call:old", "state", "waiting")
    await _backdate(redis, "old", 120)  # 10 + 120 > 50
    await store.retry("old")  # its line score follows its (moved) enqueue time
    assert (await store.action("a1", "login"))[1] == "old"


async def test_relaxation_widens_then_overflows(store: RouteStore, redis: Redis) -> None:
    """After the steps' times the call accepts lower levels, then an added skill, then overflows."""
    steps = (RelaxStep(30, min_level=1), RelaxStep(90, add_skills=("general",)), RelaxStep(180, overflow=True))
    await _agent(store, "generalist", {"general": 5})
    assert (await _offer(store, "c1", {"billing": 6}, steps=steps)).status == "queued"
    await _agent(store, "junior", {"billing": 2}, login=False)
    await _backdate(redis, "c1", 40)
    assert (await store.retry("c1")).status == "queued"  # junior is logged out; level 1 is allowed now
    assert (await store.action("junior", "login"))[1] == "c1"
    assert (await _offer(store, "c2", {"billing": 6}, steps=steps)).status == "queued"
    await _backdate(redis, "c2", 100)
    assert (await store.retry("c2")).agent == "generalist"
    assert (await _offer(store, "c3", {"billing": 6}, steps=steps)).status == "queued"
    await _backdate(redis, "c3", 200)
    assert (await store.retry("c3")).status == "overflow"
    assert await redis.zcard(P + "qwait:billing") == 0


async def test_ring_no_answer_returns_call_and_skips_agent(store: RouteStore) -> None:
    """A ring-no-answer puts the call back in line and the skipped agent is not offered it again."""
    await _agent(store, "sleepy", {"billing": 9})
    await _agent(store, "awake", {"billing": 3}, login=False)
    assert (await _offer(store, "c1", {"billing": 1})).agent == "sleepy"
    await store.ring_no_answer("c1", "sleepy", "skip", 60)
    assert await store.call_state("c1") == ("waiting", "")
    assert (await store.retry("c1")).status == "queued"  # sleepy is skipped for 60 s
    assert (await store.action("awake", "login"))[1] == "c1"
    assert (await store.agent("sleepy")).state == "available"


async def test_caller_leaving_frees_the_reserved_agent(store: RouteStore) -> None:
    """A caller who hangs up while waiting is removed at once; one who leaves an offer frees the agent."""
    await _agent(store, "a1", {"billing": 5}, login=False)
    await _offer(store, "gone", {"billing": 1})
    await store.leave("gone")
    await _offer(store, "next", {"billing": 1})
    assert (await store.action("a1", "login"))[1] == "next"
    assert await store.leave("next") is None
    assert (await store.agent("a1")).state == "available"


async def test_reservation_expiry_puts_both_back(store: RouteStore, redis: Redis) -> None:
    """A reservation nobody confirms expires: the agent is free again and the call is back in line."""
    await _agent(store, "a1", {"billing": 5})
    await _offer(store, "c1", {"billing": 1})
    await redis.zadd(P + "reserved", {"a1": 0})  # as if the TTL had passed
    assigned = await store.sweep()
    assert assigned == ["c1"]  # back in line, and the freed agent takes it again at once
    assert (await store.agent("a1")).state == "reserved"
    assert any("expired" in line for line in await store.explain("c1"))


async def test_device_events_drive_call_and_wrap_up(store: RouteStore, redis: Redis) -> None:
    """Ringing, in use and idle device states move a reserved agent through on call and wrap-up to available."""
    await _agent(store, "a1", {"billing": 5})
    await _offer(store, "c1", {"billing": 1})
    assert (await store.device("a1", "ringing", 5))[0] == "ringing"
    assert (await store.device("a1", "on_call", 5))[0] == "on_call"
    assert (await store.device("a1", "idle", 5))[0] == "wrap_up"
    await redis.zadd(P + "wrapping", {"a1": 0})
    await store.sweep()
    assert (await store.agent("a1")).state == "available"


async def test_pause_logout_and_busy_refusal(store: RouteStore) -> None:
    """A paused agent gets no calls; an agent on a call cannot log out; resume makes the agent available."""
    await _agent(store, "a1", {"billing": 5})
    assert (await store.action("a1", "pause", "lunch"))[0] == "paused"
    assert (await _offer(store, "c1", {"billing": 1})).status == "queued"
    assert (await store.agent("a1")).reason == "lunch"
    assert (await store.action("a1", "resume")) == ("available", "c1")
    await store.device("a1", "on_call", 5)
    assert (await store.action("a1", "logout"))[0] == "busy:on_call"


async def test_fifty_routers_never_double_assign(redis_server: RedisServer) -> None:
    """50 concurrent routers (own connections) offering 400 calls to 120 agents assign each agent at most once."""
    seeder = RouteStore(Redis.from_url(redis_server.url))
    await seeder.redis.flushdb()
    rng = random.Random(7)
    skills = ["billing", "support", "sales"]
    for i in range(120):
        await _agent(seeder, f"a{i}", {rng.choice(skills): rng.randint(1, 10)})
    routers = [RouteStore(Redis.from_url(redis_server.url)) for _ in range(50)]

    async def run(router: RouteStore, n: int) -> list[str]:
        got = []
        for j in range(8):
            result = await _offer(router, f"c{n}-{j}", {rng.choice(skills): 1})
            if result.status == "assigned":
                got.append(result.agent)
        return got

    results = await asyncio.gather(*(run(r, n) for n, r in enumerate(routers)))
    assigned = [a for batch in results for a in batch]
    assert len(assigned) == len(set(assigned)) and len(assigned) > 60
    states = [(await seeder.agent(a)).state for a in assigned]
    assert set(states) == {"reserved"}
    for r in routers:
        await r.redis.aclose()
    await seeder.redis.aclose()


async def test_lua_matches_the_specification(store: RouteStore, redis: Redis) -> None:
    """On random pools the Lua gives each call the same agent as router.decision.best_agent."""
    rng = random.Random(11)
    skills = ["billing", "support", "sales", "general"]
    for trial in range(20):
        await redis.flushdb()
        views = []
        for i in range(25):
            own = {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(1, 3))}
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            await _agent(store, f"t{trial}a{i}", own, langs)
            since = int(await redis.hget(P + f"agent:t{trial}a{i}", "idle_since")) / 1000
            views.append(AgentView(f"t{trial}a{i}", own, langs, since))
        need = {s: rng.randint(1, 8) for s in rng.sample(skills, rng.randint(1, 2))}
        language = rng.choice(["", "en", "fr"])
        expected = best_agent(CallView("x", need, 0, 10, 0, language), views, now=1e12)
        got = await _offer(store, f"t{trial}c", need, language=language)
        assert got.agent == (expected.id if expected else ""), (need, language)


async def test_rebuild_from_device_states_after_reconnect(store: RouteStore, redis: Redis) -> None:
    """After an AMI reconnect, device states correct agents whose events were missed: none stays busy or double."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, wrap_up=0)
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    await _agent(store, "stuck", {"billing": 5})
    await _agent(store, "busy", {"billing": 5})
    await _agent(store, "away", {"billing": 5}, login=False)
    await store.device("stuck", "on_call", 0)  # its hang-up happened while AMI was down
    touched = await router.rebuild({"PJSIP/stuck": "NOT_INUSE", "PJSIP/busy": "INUSE", "PJSIP/away": "INUSE"})
    assert touched == 3
    assert (await store.agent("stuck")).state == "available"
    assert (await store.agent("busy")).state == "on_call"  # took a call we never saw: not offered again
    assert (await store.agent("away")).state == "logged_out"
    assert (await _offer(store, "c1", {"billing": 1})).agent == "stuck"


async def test_leaving_after_the_call_finished_has_nothing_left_to_do(store: RouteStore, redis: Redis) -> None:
    """A routed call that finished is out of routing: its leave() is already done (no Redis, nothing to schedule) and
    the agent's wrap-up state stays as the call's end left it; a call still in line leaves for real."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, wrap_up=30)
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    await _agent(store, "a1", {"billing": 5})
    ticket = await router.request("done-1", skills={"billing": 1}, language="", segment="standard", customer="",
                                  priority=0, relaxation=None, queue="billing")
    offer = await ticket.wait()
    assert offer is not None and offer.agent == "a1"
    await ticket.finished("a1")
    leaving = ticket.leave()
    assert isinstance(leaving, asyncio.Future) and leaving.done()
    await asyncio.shield(leaving)
    assert (await store.agent("a1")).state == "wrap_up"
    waiting = await router.request("wait-1", skills={"billing": 1}, language="", segment="standard", customer="",
                                   priority=0, relaxation=None, queue="billing")
    assert not waiting.ready
    await asyncio.shield(waiting.leave())
    assert await store.call_state("wait-1") in (("", ""), ("left", ""))


async def test_offer_made_by_another_instance_reaches_the_waiting_ticket(redis_server: RedisServer) -> None:
    """Instance A holds a waiting call; an agent freed through instance B is offered to it over pub/sub."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()})
    loop = asyncio.get_running_loop()
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    await clients[0].flushdb()
    a, b = (CallRouter(RouteStore(c), lambda: config, loop, logging.getLogger(f"router{i}"), sweep_interval=60)
            for i, c in enumerate(clients))
    await a.start()
    await b.start()
    try:
        await _agent(b.store, "late", {"billing": 5}, login=False)
        ticket = await a.request("call-1", skills={"billing": 1}, language="", segment="standard", customer="",
                                 priority=0, relaxation=None, queue="billing")
        assert not ticket.ready
        assert await b.agent_action("late", "login") == "available"
        offer = await asyncio.wait_for(ticket.wait(), 5)
        assert (offer.agent, offer.endpoint) == ("late", "PJSIP/late")
        await ticket.leave()
    finally:
        await a.stop()
        await b.stop()
        for c in clients:
            await c.aclose()


async def test_explanation_names_the_agents_passed_over(store: RouteStore) -> None:
    """`route explain` says which free agents were passed over and why, and why the winner won."""
    await _agent(store, "junior", {"billing": 2})
    await _agent(store, "french", {"billing": 9}, ("fr",))
    await _agent(store, "senior", {"billing": 6})
    assert (await _offer(store, "c1", {"billing": 5}, language="en")).agent == "senior"
    [line] = await store.explain("c1")
    assert "assigned senior: billing level 6" in line and "passed over french (no en)" in line
    assert (await _offer(store, "c2", {"billing": 5}, language="en")).status == "queued"
    assert "passed over french (no en)" in (await store.explain("c2"))[-1]


async def test_after_ring_no_answer_the_call_waits_and_gets_the_next_agent(redis_server: RedisServer) -> None:
    """A call whose first agent did not answer waits in line again and is offered the next agent that frees up,
    never the echo of its first offer."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, ring_action="skip", ring_penalty=60)
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    router = CallRouter(RouteStore(client), lambda: config, asyncio.get_running_loop(), logging.getLogger("r"),
                        sweep_interval=60)
    await router.start()
    try:
        await _agent(router.store, "sleepy", {"billing": 9})
        await _agent(router.store, "late", {"billing": 5}, login=False)
        ticket = await router.request("call-1", skills={"billing": 1}, language="", segment="standard",
                                      customer="", priority=0, relaxation=None, queue="billing")
        first = await ticket.wait()
        assert first is not None and first.agent == "sleepy"
        await ticket.not_answered("sleepy")
        ticket.notify("sleepy")  # a late echo of the first offer must not be taken for a new one
        assert await router.agent_action("late", "login") == "available"
        second = await asyncio.wait_for(ticket.wait(), 5)
        assert second is not None and second.agent == "late"
        await ticket.leave()
    finally:
        await router.stop()
        await client.aclose()


async def _views_of_waiting(redis: Redis) -> list[CallView]:
    """Every waiting call in Redis as the specification sees it (read by brute force, not through the indexes)."""
    views = []
    async for key in redis.scan_iter(match=P + "call:*"):
        h = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
        if h.get("state") != "waiting":
            continue
        skills = {name: int(level) for name, level in (part.split(":") for part in h["skills"].split(",") if part)}
        views.append(CallView(key.decode()[len(P + "call:"):], skills, int(h["enq"]) / 1000, float(h["base"]),
                              float(h["aging"]), h.get("lang", ""), _decode_steps(h.get("steps", ""))))
    return views


def _decode_steps(text: str) -> tuple[RelaxStep, ...]:
    steps = []
    for part in text.split(";"):
        if not part:
            continue
        after, kind, value = part.split("|")
        steps.append(RelaxStep(float(after), int(value) if kind == "L" else None,
                               tuple(value.split(",")) if kind == "S" else (), kind == "O"))
    return tuple(steps)


async def _redis_now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return int(seconds) + (int(micros) // 1000) / 1000


PROFILES: tuple[tuple[RelaxStep, ...], ...] = (
    (), (RelaxStep(30, min_level=1),), (RelaxStep(20, add_skills=("general",)),),
    (RelaxStep(30, min_level=2), RelaxStep(60, add_skills=("general", "sales")), RelaxStep(150, overflow=True)))


async def test_freed_agent_gets_the_specifications_call_with_aging_and_relaxation(store: RouteStore,
                                                                                 redis: Redis) -> None:
    """On random lines (mixed skills, levels, languages, priorities, aging rates, relaxation profiles and ages), an
    agent that frees takes the call router.decision.best_call picks, also when time passed since the calls were
    indexed (steps that came due in between, aging changing the order between rates)."""
    rng = random.Random(23)
    skills = ["billing", "support", "sales", "general"]
    checked = assigned = 0
    for trial in range(25):
        await redis.flushdb()
        for i in range(30):
            need = {s: rng.randint(1, 9) for s in rng.sample(skills[:3], rng.choice([1, 1, 2]))}
            uid = f"t{trial}c{i}"
            await _offer(store, uid, need, base=rng.choice([10, 50, 100]), aging=rng.choice([0, 0.5, 1.0]),
                         steps=rng.choice(PROFILES), language=rng.choice(["", "", "en", "fr"]))
            await _backdate(redis, uid, rng.randint(0, 120))
            await store.retry(uid)  # indexed for the age it has now
        # time passes for every call alike (no re-indexing): steps come due, aging reorders the rates
        shift = rng.randint(0, 90) + 0.5
        async for key in redis.scan_iter(match=P + "call:*"):
            await redis.hincrby(key, "enq", -int(shift * 1000))
        for uid, score in await redis.zrange(P + "relax", 0, -1, withscores=True):
            await redis.zadd(P + "relax", {uid: score - shift * 1000})
            enq, rest = (await redis.hget(P + "relaxing", uid)).decode().split(" ", 1)
            await redis.hset(P + "relaxing", uid, f"{int(enq) - int(shift * 1000)} {rest}")
            for skill in rest.split(" ")[2].split(","):
                if skill:
                    await redis.zadd(P + "relax:" + skill, {uid: score - shift * 1000})
        async for lines in redis.scan_iter(match=P + "wqlines:*"):  # line scores hold the enqueue time too
            for line, head in await redis.zrange(lines, 0, -1, withscores=True):
                aging, _, base = line.decode().rsplit(":", 1)[1].partition("/")
                for uid, score in await redis.zrange(line, 0, -1, withscores=True):
                    await redis.zadd(line, {uid: score - shift * 1000 if base else score - float(aging) * shift})
                await redis.zadd(lines, {line: head - shift * 1000 if base else head - float(aging) * shift})
        for j in range(6):
            own = {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(1, 3))}
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            agent_id = f"t{trial}a{j}"
            await _agent(store, agent_id, own, langs, login=False)
            waiting = await _views_of_waiting(redis)
            now = await _redis_now(redis)
            expected = best_call(AgentView(agent_id, own, langs, 0.0), waiting, now)
            _, uid = await store.action(agent_id, "login")
            assert uid == (expected.uid if expected else ""), (trial, j, own, langs)
            checked += 1
            assigned += bool(uid)
    assert checked == 150 and assigned > 60


async def test_new_and_relaxed_calls_get_the_specifications_agent(store: RouteStore, redis: Redis) -> None:
    """On random pools a new call gets router.decision.best_agent's pick, and so does the same call offered again
    after waiting long enough for its relaxation steps (lower levels, added skills)."""
    rng = random.Random(5)
    skills = ["billing", "support", "sales", "general"]
    relaxed_assigned = 0
    for trial in range(30):
        await redis.flushdb()
        views = []
        for i in range(25):
            own = {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(1, 3))}
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            await _agent(store, f"a{i}", own, langs)
            since = int(await redis.hget(P + f"agent:a{i}", "idle_since")) / 1000
            views.append(AgentView(f"a{i}", own, langs, since))
        need = {s: rng.randint(6, 10) for s in rng.sample(skills[:3], rng.choice([1, 2]))}
        language = rng.choice(["", "en", "fr"])
        steps = rng.choice(PROFILES[1:])
        call = CallView("c", need, 0, 10, 0, language, steps)
        expected = best_agent(call, views, now=1.0)
        got = await _offer(store, "c", need, steps=steps, language=language)
        assert got.agent == (expected.id if expected else ""), (trial, need, language)
        if got.status == "assigned":
            continue
        waited = rng.choice([25, 35, 65, 100]) + 0.5
        await _backdate(redis, "c", waited)
        expected = best_agent(call, views, now=waited)
        got = await store.retry("c")
        assert got.agent == (expected.id if expected else ""), (trial, need, language, waited)
        relaxed_assigned += got.status == "assigned"
    assert relaxed_assigned > 3


async def test_fifty_routers_and_freeing_agents_never_double_assign(redis_server: RedisServer) -> None:
    """50 routers offering calls while 10 connections free and pause agents: every agent holds at most one call,
    every call at most one agent, and each reserved agent's call names that agent."""
    seeder = RouteStore(Redis.from_url(redis_server.url))
    await seeder.redis.flushdb()
    rng = random.Random(9)
    skills = ["billing", "support", "sales"]
    for i in range(80):
        await _agent(seeder, f"a{i}", {rng.choice(skills): rng.randint(1, 10)}, login=False)
    routers = [RouteStore(Redis.from_url(redis_server.url)) for _ in range(60)]

    async def offer(router: RouteStore, n: int) -> None:
        for j in range(8):
            await _offer(router, f"c{n}-{j}", {rng.choice(skills): rng.randint(1, 5)}, base=rng.choice([10, 100]),
                         aging=rng.choice([0.5, 1.0]))

    async def free(router: RouteStore, n: int) -> None:
        for j in range(16):
            agent = f"a{(n * 16 + j) % 80}"
            await router.action(agent, "login")
            await router.action(agent, "pause", "churn")
            await router.action(agent, "resume")

    await asyncio.gather(*(offer(r, n) for n, r in enumerate(routers[:50])),
                         *(free(r, n) for n, r in enumerate(routers[50:])))
    holders: dict[str, str] = {}
    for i in range(80):
        record = await seeder.agent(f"a{i}")
        if record.state == "reserved":
            assert record.call not in holders, (record.call, holders.get(record.call), record.id)
            holders[record.call] = record.id
            assert await seeder.call_state(record.call) == ("offered", record.id)
    assert len(holders) > 20
    for r in routers:
        await r.redis.aclose()
    await seeder.redis.aclose()


async def test_lost_offer_message_is_found_in_the_offer_log(store: RouteStore, redis: Redis) -> None:
    """A waiting ticket whose pub/sub message was lost gets its offer from one read of the offer log, and a
    ticket whose call was not offered stays waiting."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()})
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("lost"))
    await router.recheck_offers()  # the first look sets the cursor
    await _agent(store, "late", {"billing": 5}, login=False)
    tickets = [await router.request(f"call-{i}", skills={"billing": 1}, language="", segment="standard",
                                    customer="", priority=0, relaxation=None, queue="billing") for i in range(3)]
    assert not any(t.ready for t in tickets)
    await store.action("late", "login")  # published, but this router is not listening: the message is lost
    await router.recheck_offers()
    offer = await asyncio.wait_for(tickets[0].wait(), 5)
    assert offer is not None and (offer.agent, offer.endpoint) == ("late", "PJSIP/late")
    assert not tickets[1].ready and not tickets[2].ready
    for t in tickets:
        await t.leave()


async def test_credentials_are_stored_as_given_hash_and_replaced(store: RouteStore, redis: Redis) -> None:
    """A credential hash is kept per role and name, replaced by a new one; none issued reads as ""; CR/LF refused."""
    assert await store.credential("agent", "osman") == ""
    await store.set_credential("agent", "osman", "scrypt$1")
    await store.set_credential("supervisor", "osman", "scrypt$2")
    await store.set_credential("agent", "osman", "scrypt$3")
    assert await store.credential("agent", "osman") == "scrypt$3"
    assert await store.credential("supervisor", "osman") == "scrypt$2"
    assert await redis.get(P + "credential:agent:osman") == b"scrypt$3"
    with pytest.raises(ValueError):
        await store.set_credential("agent", "os\nman", "x")


async def test_live_snapshot_lists_route_queues_not_skills(store: RouteStore) -> None:
    """The live gauges' queues are the route nodes' queue names; a skill name is no queue (issue 14, #11)."""
    import logging

    from switchboard.router.call_router import CallRouter
    from switchboard.router.routing_config import RoutingConfig, Segment
    config = RoutingConfig(skills=frozenset({"billing", "general"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, wrap_up=0)
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    router.queues.update({"billing-desk"})
    await router.refresh_snapshot()
    assert router.snapshot is not None and set(router.snapshot.waiting) == {"billing-desk"}


def _multi_pool(rng: random.Random, n: int) -> dict[str, dict[str, int]]:
    """Agents whose skills are unevenly common: `common` almost everyone, `mid` some, `rare` few."""
    pool = {}
    for i in range(n):
        own = {}
        for skill, share in (("common", 0.9), ("mid", 0.4), ("rare", 0.12)):
            if rng.random() < share:
                own[skill] = rng.randint(1, 10)
        pool[f"m{i}"] = own or {"common": rng.randint(1, 10)}
    return pool


def _multi_need(rng: random.Random) -> dict[str, int]:
    names = rng.sample(["common", "mid", "rare"], rng.choice([2, 2, 3]))
    if rng.random() < 0.6 and "common" in names:  # the common skill listed first: it ranks, another one is rarer
        names.remove("common")
        names.insert(0, "common")
    return {s: rng.randint(1, 7) for s in names}


async def test_multi_skill_calls_get_the_specifications_agent(store: RouteStore, redis: Redis) -> None:
    """Calls asking two or three skills of unevenly common ones (the first listed often the commonest): the Lua,
    which reads the free agents of the rarest skill once the first skill's walk passes over too many, gives
    router.decision.best_agent's pick, new and after relaxation."""
    rng = random.Random(31)
    via_rarer = 0
    for trial in range(30):
        await redis.flushdb()
        pool = _multi_pool(rng, 60)
        views = []
        for agent_id, own in pool.items():
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            await _agent(store, agent_id, own, langs)
            since = int(await redis.hget(P + f"agent:{agent_id}", "idle_since")) / 1000
            views.append(AgentView(agent_id, own, langs, since))
        levels = levels_by_skill(pool.values())
        for c in range(4):
            need = _multi_need(rng)
            language = rng.choice(["", "en", "fr"])
            steps = rng.choice(PROFILES)
            call = CallView("c", need, 0, 10, 0, language, steps)
            uid = f"t{trial}c{c}"
            got = await store.offer(uid, need, steps, language, 10, 0, "", "", "q", "standard",
                                    index=index_skill(levels, need))
            expected = best_agent(call, views, now=1.0)
            assert got.agent == (expected.id if expected else ""), (trial, need, language)
            explained = await store.explain(uid)
            via_rarer += any("found by" in line for line in explained)
            if got.status == "assigned":
                views = [v for v in views if v.id != got.agent]
                continue
            waited = rng.choice([25, 35, 65]) + 0.5
            await _backdate(redis, uid, waited)
            got = await store.retry(uid)
            expected = best_agent(call, views, now=waited)
            assert got.agent == (expected.id if expected else ""), (trial, need, language, waited)
            if got.status == "assigned":
                views = [v for v in views if v.id != got.agent]
    assert via_rarer > 5  # the rarer skill's free agents were read instead of passing over the common skill's


async def test_freed_agent_gets_the_specifications_multi_skill_call(store: RouteStore, redis: Redis) -> None:
    """Multi-skill calls wait in the lines of their rarest skill; agents that free take router.decision.best_call's
    pick among them and single-skill calls, with aging, relaxation and time passing."""
    rng = random.Random(41)
    checked = assigned = 0
    for trial in range(20):
        await redis.flushdb()
        pool = _multi_pool(rng, 40)
        levels = levels_by_skill(pool.values())
        for i in range(30):
            need = _multi_need(rng) if rng.random() < 0.7 else {rng.choice(["common", "mid", "rare"]): rng.randint(1, 9)}
            uid = f"t{trial}c{i}"
            await store.offer(uid, need, rng.choice(PROFILES), rng.choice(["", "", "en", "fr"]),
                              rng.choice([10, 50, 100]), rng.choice([0, 0.5, 1.0]), "", "", "q", "standard",
                              index=index_skill(levels, need))
            await _backdate(redis, uid, rng.randint(0, 120))
            await store.retry(uid)  # indexed for the age it has now
        for j, (agent_id, own) in enumerate(list(pool.items())[:8]):
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            await _agent(store, agent_id, own, langs, login=False)
            waiting = await _views_of_waiting(redis)
            now = await _redis_now(redis)
            expected = best_call(AgentView(agent_id, own, langs, 0.0), waiting, now)
            _, uid = await store.action(agent_id, "login")
            assert uid == (expected.uid if expected else ""), (trial, j, own, langs)
            checked += 1
            assigned += bool(uid)
    assert checked == 160 and assigned > 50


async def test_fifty_routers_with_multi_skill_calls_never_double_assign(redis_server: RedisServer) -> None:
    """50 routers offering multi-skill calls (waiting under their rarest skill) while 10 connections free and pause
    agents: every agent holds at most one call, every call at most one agent."""
    seeder = RouteStore(Redis.from_url(redis_server.url))
    await seeder.redis.flushdb()
    rng = random.Random(13)
    pool = _multi_pool(rng, 80)
    for agent_id, own in pool.items():
        await _agent(seeder, agent_id, own, login=False)
    levels = levels_by_skill(pool.values())
    ids = list(pool)
    routers = [RouteStore(Redis.from_url(redis_server.url)) for _ in range(60)]

    async def offer(router: RouteStore, n: int) -> None:
        for j in range(8):
            need = _multi_need(rng)
            await router.offer(f"c{n}-{j}", need, (), "", rng.choice([10, 100]), rng.choice([0.5, 1.0]), "", "",
                               "q", "standard", index=index_skill(levels, need))

    async def free(router: RouteStore, n: int) -> None:
        for j in range(16):
            agent = ids[(n * 16 + j) % 80]
            await router.action(agent, "login")
            await router.action(agent, "pause", "churn")
            await router.action(agent, "resume")

    await asyncio.gather(*(offer(r, n) for n, r in enumerate(routers[:50])),
                         *(free(r, n) for n, r in enumerate(routers[50:])))
    holders: dict[str, str] = {}
    for agent_id in ids:
        record = await seeder.agent(agent_id)
        if record.state == "reserved":
            assert record.call not in holders, (record.call, holders.get(record.call), record.id)
            holders[record.call] = record.id
            assert await seeder.call_state(record.call) == ("offered", record.id)
    assert len(holders) > 10
    for r in routers:
        await r.redis.aclose()
    await seeder.redis.aclose()


async def test_a_relaxation_overflow_step_reaches_the_waiting_ticket(redis_server: RedisServer) -> None:
    """The ticket's step timers start once the offer that enqueued the call returned, so the step is never tried
    before the call has waited its time in Redis: a 0.3 s overflow step sends the caller on (wait() gives None)."""
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    config = RoutingConfig(skills=frozenset({"sales"}), segments={"standard": Segment(10, 0)},
                           relaxation={"quick": (RelaxStep(0.3, overflow=True),)},
                           agents={"a3": AgentSeed("a3", "Cy", "PJSIP/a3", {"sales": 6}, ("en",))})
    router = CallRouter(RouteStore(redis), lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    await router.start()
    try:
        await router.store.action("a3", "login")
        ticket = await router.request("u1", skills={"sales": 9}, language="", segment="standard", customer="c1",
                                      priority=0, relaxation="quick", queue="sales")
        assert not ticket.ready
        assert await asyncio.wait_for(ticket.wait(), 10) is None
        assert any("overflow after" in line for line in await router.store.explain("u1"))
    finally:
        await router.stop()
        await redis.aclose()


async def test_a_call_offered_at_once_gets_its_step_timers_when_it_is_back_in_line(
        redis_server: RedisServer) -> None:
    """An agent reserved at once: no step timers (most calls); the agent does not answer and the call waits in line
    again: its steps count from the first offer, so the overflow step already due sends the caller on."""
    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    config = RoutingConfig(skills=frozenset({"sales"}), segments={"standard": Segment(10, 0)},
                           relaxation={"quick": (RelaxStep(0.3, overflow=True),)}, ring_action="logout",
                           agents={"a3": AgentSeed("a3", "Cy", "PJSIP/a3", {"sales": 6}, ("en",))})
    router = CallRouter(RouteStore(redis), lambda: config, asyncio.get_running_loop(), logging.getLogger("test"))
    await router.start()
    try:
        await router.store.action("a3", "login")
        ticket = await router.request("u2", skills={"sales": 5}, language="", segment="standard", customer="c1",
                                      priority=0, relaxation="quick", queue="sales")
        assert ticket.ready and not ticket._timers
        offer = await ticket.wait()
        assert offer is not None and offer.agent == "a3"
        await ticket.not_answered("a3")  # a3 logged out: nobody else can take it
        assert await asyncio.wait_for(ticket.wait(), 10) is None
        assert any("overflow after" in line for line in await router.store.explain("u2"))
    finally:
        await router.stop()
        await redis.aclose()


async def _index_problems(redis: Redis) -> list[str]:
    """What is wrong with the waiting-call indexes: a `wqlines` entry that is not its line's head score, a non-empty
    line missing from `wqlines`, a line member that is not a waiting call listing that line, a scheduled relaxation
    of a call that is not waiting or has no steps."""
    problems: list[str] = []
    calls: dict[str, dict[str, str]] = {}
    async for key in redis.scan_iter(match=P + "call:*"):
        raw = await redis.hgetall(key)
        calls[key.decode()[len(P + "call:"):]] = {k.decode(): v.decode() for k, v in raw.items()}
    listed: dict[str, float] = {}
    async for lines in redis.scan_iter(match=P + "wqlines:*"):
        for line, score in await redis.zrange(lines, 0, -1, withscores=True):
            listed[line.decode()] = score
            head = await redis.zrange(line, 0, 0, withscores=True)
            if not head or head[0][1] != score:
                problems.append(f"{line.decode()} listed at {score}, head {head}")
    async for line in redis.scan_iter(match=P + "wq:*"):
        name = line.decode()
        if name not in listed:
            problems.append(f"{name} not in wqlines")
        for uid in await redis.zrange(line, 0, -1):
            call = calls.get(uid.decode(), {})
            if call.get("state") != "waiting" or name not in call.get("wq", "").split():
                problems.append(f"{uid.decode()} in {name} but {call.get('state')} {call.get('wq')}")
    for uid, call in calls.items():
        for name in call.get("wq", "").split():
            if await redis.zscore(name, uid) is None:
                problems.append(f"{uid} lists {name} but is not in it")
    scheduled = {u.decode() for u in await redis.zrange(P + "relax", 0, -1)}
    relaxing = {u.decode() for u in await redis.hkeys(P + "relaxing")}
    if scheduled != relaxing:
        problems.append(f"relax {sorted(scheduled)} != relaxing {sorted(relaxing)}")
    async for key in redis.scan_iter(match=P + "relax:*"):
        scheduled |= {u.decode() for u in await redis.zrange(key, 0, -1)}
    for uid in scheduled | relaxing:
        call = calls.get(uid, {})
        if call.get("state") != "waiting" or not call.get("steps"):
            problems.append(f"{uid} scheduled but {call.get('state')} steps {call.get('steps')!r}")
    return problems


async def test_waiting_indexes_stay_consistent_through_random_operations(store: RouteStore, redis: Redis) -> None:
    """Through random offers, re-offers after waiting, callers leaving, agents freeing (taking calls) and sweeps,
    `wqlines` holds exactly the non-empty lines with their head's score, every line member is a waiting call that
    lists the line, and only waiting calls with relaxation steps are scheduled (`relax`, `relax:<skill>`,
    `relaxing`)."""
    rng = random.Random(31)
    skills = ["billing", "support", "sales", "general"]
    for trial in range(6):
        await redis.flushdb()
        agents = []
        for j in range(8):
            agent_id = f"t{trial}a{j}"
            own = {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(1, 3))}
            await _agent(store, agent_id, own, tuple(rng.sample(["en", "fr"], rng.randint(1, 2))), login=False)
            agents.append(agent_id)
        uids: list[str] = []
        for step in range(120):
            kind = rng.random()
            if kind < 0.45 or not uids:
                uid = f"t{trial}c{step}"
                need = {s: rng.randint(1, 9) for s in rng.sample(skills[:3], rng.choice([1, 1, 2]))}
                await _offer(store, uid, need, base=rng.choice([10, 50, 100]), aging=rng.choice([0, 0.5, 1.0]),
                             steps=rng.choice(PROFILES), language=rng.choice(["", "", "en", "fr"]))
                uids.append(uid)
            elif kind < 0.6:
                uid = rng.choice(uids)
                await _backdate(redis, uid, rng.randint(0, 90))
                await store.retry(uid)
            elif kind < 0.72:
                await store.leave(uids.pop(rng.randrange(len(uids))))
            elif kind < 0.9:
                agent_id = rng.choice(agents)
                state = (await redis.hget(P + "agent:" + agent_id, "state") or b"").decode()
                if state in ("logged_out", "paused"):
                    await store.action(agent_id, "login" if state == "logged_out" else "resume")
                elif state in ("reserved", "ringing"):
                    await store.device(agent_id, "on_call", 0)
                elif state == "on_call":
                    await store.device(agent_id, "idle", 0)
                else:
                    await store.action(agent_id, "pause", "test")
            else:
                await store.sweep()
            if step % 10 == 9:
                assert await _index_problems(redis) == [], (trial, step)
        assert await _index_problems(redis) == [], trial


async def test_the_sweep_indexes_due_relaxation_steps_in_short_runs(store: RouteStore, redis: Redis) -> None:
    """12 calls whose relaxation step came due are indexed again at the relaxed level in sweep runs of at most 5
    (one sweep call runs the script until nothing more is due), and leave the relaxation schedule."""
    for i in range(12):
        await _offer(store, f"c{i}", {"billing": 6}, steps=(RelaxStep(30, min_level=1),))
        await _backdate(redis, f"c{i}", 40)
        await redis.zincrby(P + "relax", -40_000, f"c{i}")  # its step (30 s) came due 10 s ago
        await redis.zincrby(P + "relax:billing", -40_000, f"c{i}")
    await redis.config_set("slowlog-log-slower-than", 0)
    await redis.config_set("slowlog-max-len", 100000)
    await redis.slowlog_reset()
    await store.sweep(relax_batch=5)
    runs = [e for e in await redis.slowlog_get(100000) if e["command"].startswith(b"FCALL")]
    assert len(runs) == 3
    for i in range(12):
        assert (await redis.hget(P + "call:" + f"c{i}", "wq")).decode().startswith(P + "wq:billing:1:*:")
    assert await redis.zcard(P + "relax") == 0 and await redis.hlen(P + "relaxing") == 0
    assert await _index_problems(redis) == []


async def test_explanation_without_language_names_the_agents_the_walk_passed_over(store: RouteStore) -> None:
    """With no language asked, the agents passed over are named from the agent walk itself (a penalised agent)."""
    await _agent(store, "best", {"billing": 9})
    await _agent(store, "next", {"billing": 6})
    await _offer(store, "c0", {"billing": 9})  # best takes it, does not answer and serves a penalty (still free)
    await store.ring_no_answer("c0", "best", "skip", 60)
    await store.leave("c0")
    assert (await _offer(store, "c1", {"billing": 5})).agent == "next"
    line = (await store.explain("c1"))[-1]
    assert "assigned next: billing level 6" in line and "passed over best (ring-no-answer penalty)" in line
    await store.leave("c1")
    assert (await _offer(store, "c2", {"billing": 7})).status == "queued"
    assert "passed over best (ring-no-answer penalty)" in (await store.explain("c2"))[-1]


async def test_explanations_keep_the_last_50_lines_and_expire(store: RouteStore, redis: Redis) -> None:
    """A call's explanations are trimmed to its last 50 lines and the list expires (a day after its first line)."""
    await _agent(store, "a1", {"billing": 5})
    await _agent(store, "a2", {"billing": 5})
    await _offer(store, "c1", {"billing": 1})
    for _ in range(30):  # each ring-no-answer and retry adds lines
        _, agent = await store.call_state("c1")
        await store.ring_no_answer("c1", agent, "skip", 0)
        await store.retry("c1")
    lines = await store.explain("c1")
    assert len(lines) == 50 and "assigned" in lines[-1]
    assert 0 < await redis.ttl(P + "explain:c1") <= 86400


async def test_a_new_call_is_written_once_with_its_decision(store: RouteStore, redis: Redis) -> None:
    """A new call's hash holds every field and an expiry whether it was assigned, queued or overflowed at once."""
    await _agent(store, "a1", {"billing": 5})
    await _offer(store, "assigned", {"billing": 3}, base=20, aging=0.5, language="en", queue="q1")
    await _offer(store, "queued", {"billing": 3}, base=20, aging=0.5, queue="q1")
    await _offer(store, "over", {"billing": 3}, steps=(RelaxStep(0, overflow=True),), queue="q1")
    for uid, state in (("assigned", "offered"), ("queued", "waiting"), ("over", "overflow")):
        h = {k.decode(): v.decode() for k, v in (await redis.hgetall(P + "call:" + uid)).items()}
        assert {"skills", "steps", "lang", "base", "aging", "customer", "pref", "queue", "segment", "enq", "ix",
                "wq"} <= set(h), uid
        assert h["state"] == state and h["queue"] == "q1" and h["skills"] == "billing:3"
        assert 0 < await redis.ttl(P + "call:" + uid) <= 86400
    assert (await redis.hget(P + "call:assigned", "agent")) == b"a1"
    assert (await redis.hget(P + "call:queued", "wq")).decode().startswith(P + "wq:billing:3:*:")
    assert await redis.zscore(P + "qwait:q1", "queued") is not None
    assert await redis.zscore(P + "qwait:q1", "assigned") is None


async def test_a_freed_agent_given_a_call_is_written_as_reserved_with_its_new_idle_time(
        store: RouteStore, redis: Redis) -> None:
    """An agent freed from wrap-up straight onto a waiting call: reserved, new idle time, out of every other list."""
    await _agent(store, "a1", {"billing": 5})
    await _offer(store, "c1", {"billing": 1})
    await store.device("a1", "on_call", 0)
    assert (await store.call_done("c1", "a1", 0.05, "", 0))[0] == "wrap_up"
    assert await redis.zscore(P + "wrapping", "a1") is not None
    before = int(await redis.hget(P + "agent:a1", "idle_since"))
    await _offer(store, "c2", {"billing": 1})  # waits: a1 is wrapping up
    await redis.zadd(P + "wrapping", {"a1": 0})  # the wrap-up is over
    assert "c2" in await store.sweep()
    h = {k.decode(): v.decode() for k, v in (await redis.hgetall(P + "agent:a1")).items()}
    assert h["state"] == "reserved" and h["call"] == "c2" and "wrap_until" not in h
    assert int(h["idle_since"]) >= before
    assert await redis.hget(P + "states", "a1") == b"reserved"
    assert await redis.zscore(P + "wrapping", "a1") is None
    assert await redis.zscore(P + "reserved", "a1") is not None
    assert not [k async for k in redis.scan_iter(match=P + "idle:*") if await redis.zscore(k, "a1") is not None]


async def test_on_call_takes_an_agent_out_of_its_free_sets_and_deadline_lists(store: RouteStore, redis: Redis) -> None:
    """An agent going on a call from free or from reserved leaves the free-agent sets and `reserved`."""
    await _agent(store, "free", {"billing": 5}, ("en", "fr"))
    await _agent(store, "held", {"billing": 5})
    await _offer(store, "c1", {"billing": 1})  # one of them is reserved
    _, held = await store.call_state("c1")
    other = "held" if held == "free" else "free"
    for agent in (held, other):
        assert (await store.device(agent, "on_call", 0))[0] == "on_call"
        assert await redis.zscore(P + "reserved", agent) is None
        h = await redis.hgetall(P + "agent:" + agent)
        assert b"reserved_until" not in h and h[b"state"] == b"on_call"
    assert not [k async for k in redis.scan_iter(match=P + "idle:*") if await redis.zcard(k)]


async def test_agents_freed_in_one_device_batch_get_the_specifications_calls(store: RouteStore, redis: Redis) -> None:
    """A pass's device states sent as one agent_devices call (folded, noise included): each agent that frees takes
    router.decision.best_call's pick among the calls still waiting, in the batch's order, as one by one."""
    rng = random.Random(59)
    skills = ["billing", "support", "sales"]
    checked = assigned = 0
    for trial in range(15):
        await redis.flushdb()
        agents: dict[str, tuple[dict[str, int], tuple[str, ...]]] = {}
        for j in range(6):
            own = {s: rng.randint(1, 10) for s in rng.sample(skills, rng.randint(1, 3))}
            langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
            agents[f"t{trial}a{j}"] = (own, langs)
            await _agent(store, f"t{trial}a{j}", own, langs)
            await store.device(f"t{trial}a{j}", "on_call", 0)  # every agent busy: the calls wait
        for i in range(20):
            need = {s: rng.randint(1, 9) for s in rng.sample(skills, rng.choice([1, 1, 2]))}
            await _offer(store, f"t{trial}c{i}", need, base=rng.choice([10, 50, 100]), aging=rng.choice([0, 0.5]),
                         steps=rng.choice(PROFILES), language=rng.choice(["", "", "en", "fr"]))
            await _backdate(redis, f"t{trial}c{i}", 7 * i + rng.randint(0, 5))  # distinct waits: no ties
            await store.retry(f"t{trial}c{i}")  # indexed for the age it has now
        noisy: list[tuple[str, str]] = []
        for agent_id in rng.sample(list(agents), len(agents)):
            noisy += [(agent_id, "on_call")] * rng.randint(0, 2) + [(agent_id, "idle")] * rng.randint(1, 2)
        updates = fold(noisy)
        waiting = await _views_of_waiting(redis)
        now = await _redis_now(redis)
        expected: list[str] = []
        for agent_id, event in updates:
            pick = None
            if event == "idle" and agent_id not in {a for a, e in updates[:len(expected)] if e == "idle"}:
                own, langs = agents[agent_id]
                pick = best_call(AgentView(agent_id, own, langs, 0.0), waiting, now)
                waiting = [c for c in waiting if pick is None or c.uid != pick.uid]
            expected.append(pick.uid if pick else "")
        results = await store.devices(updates, 0)
        assert [r[1] for r in results if not isinstance(r, Exception)] == expected, trial
        checked += len(agents)
        assigned += sum(bool(uid) for uid in expected)
    assert checked == 90 and assigned > 30


async def test_one_device_batch_leaves_what_single_updates_leave(store: RouteStore, redis: Redis) -> None:
    """The same random device states from the same start, once one agent_device call each and once folded into
    agent_devices calls of at most 200: every agent ends in the same state with the same call."""
    rng = random.Random(61)
    ids = [f"a{j}" for j in range(12)]

    async def start() -> None:
        await redis.flushdb()
        for j, agent_id in enumerate(ids):
            await _agent(store, agent_id, {"billing": j + 1}, login=j % 6 != 5)  # distinct levels: one ranking
        for i in range(5):  # five agents reserved (the best levels), the rest free or logged out
            await _offer(store, f"c{i}", {"billing": 1})

    async def states() -> dict[str, tuple[str, str]]:
        return {a.id: (a.state, a.call) for a in await store.agents()}

    for trial in range(10):
        updates = [(rng.choice(ids), rng.choice(["ringing", "on_call", "idle"])) for _ in range(rng.randint(5, 400))]
        await start()
        singles = [await store.device(agent_id, event, 0) for agent_id, event in updates]
        one_by_one = await states()
        await start()
        batched = await store.devices(fold(updates), 0)
        assert await states() == one_by_one, trial
        given = [uid for _, uid in singles if uid]
        assert [r[1] for r in batched if not isinstance(r, Exception) and r[1]] == given, trial


def test_cli_route_explain_runs_with_only_redis(redis_server: RedisServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard route explain` answers from Redis alone: no AMI secret, no dialplans folder, no agent argument."""
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.delenv("SWITCHBOARD_AMI_SECRET", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", redis_server.url)
    monkeypatch.chdir(tmp_path)
    assert cli(["route", "explain", "no-such-call", "--config", "/dev/null"]) == 1
    assert "no routing decisions recorded for no-such-call" in capsys.readouterr().err
