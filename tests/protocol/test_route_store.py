"""The router's Lua against a real redis-server: assignments, priorities, relaxation, expiry, and no double booking."""
from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import Redis

from switchboard.router.decision import AgentView, CallView, best_agent
from switchboard.router.route_store import P, RouteStore
from switchboard.router.routing_config import AgentSeed, RelaxStep
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
