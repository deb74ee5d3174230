"""Ownership and recovery of the router on a real redis-server: dead instances' calls are reaped, an empty Redis is
seeded again."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from redis.asyncio import Redis

from switchboard.router.call_router import CallRouter
from switchboard.router.liveness import LivenessSettings
from switchboard.router.route_store import PREFIX as P
from switchboard.router.route_store import RouteStore
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment
from tests.e2e.sandbox import RedisServer

CONFIG = RoutingConfig(skills=frozenset({"support"}), segments={"standard": Segment(10, 0)},
                       relaxation={"default": ()}, wrap_up=0,
                       agents={"solo": AgentSeed("solo", "Solo", "PJSIP/solo", {"support": 7}, ("en",))})


def _router(client: Redis, instance: str, lease: float = 3.0) -> CallRouter:
    return CallRouter(RouteStore(client), lambda: CONFIG, asyncio.get_running_loop(), logging.getLogger(instance),
                      sweep_interval=60, liveness=LivenessSettings(instance, lease, 0.1, 5.0))


async def _ghost_calls(store: RouteStore, owner: str, count: int) -> list[str]:
    """`count` support calls owned by `owner`, offered the way CallRouter.request does (owned first)."""
    uids = [f"{owner}-call-{i}" for i in range(count)]
    for uid in uids:
        await store.own(owner, uid)
        await store.offer(uid, {"support": 5}, (), "", 10, 0, "", "", "support", "standard")
    return uids


async def test_dead_owner_calls_and_reserved_agent_are_released_and_never_offered_again(redis: Redis) -> None:
    """A dead instance's 6 waiting calls leave the line and its reserved agent is freed within its lease plus one
    heartbeat; no sweep or freed agent ever offers them again, and a live instance's calls are untouched."""
    live = _router(redis, "live")
    await live.seed(CONFIG)
    await live.store.action("solo", "login")
    await redis.config_set("notify-keyspace-events", "Ex")
    expired = redis.pubsub()
    await expired.subscribe("__keyevent@0__:expired")
    await live.store.heartbeat("ghost", 0.5)  # the dead instance's last heartbeat: a 0.5 s lease
    lease_from = time.monotonic()
    uids = await _ghost_calls(live.store, "ghost", 7)
    assert (await live.store.agent("solo")).state == "reserved"  # the first call got the only agent
    await live.store.heartbeat("other", 60)  # another live instance with one call in line
    [kept] = await _ghost_calls(live.store, "other", 1)
    async for message in expired.listen():  # Redis says the lease lapsed (no sleeping)
        if message["type"] == "message" and message["data"] == (P + "owner:ghost").encode():
            break
    await live.liveness.beat()  # one heartbeat of a live instance
    released_after = time.monotonic() - lease_from
    await expired.aclose()
    assert released_after < 0.5 + 1.0  # the lease, the expiry notice and one beat
    assert [(await live.store.call_state(u))[0] for u in uids] == ["left"] * 7
    assert await live.store.call_state(kept) == ("offered", "solo")  # the live caller, not a dead one
    solo = await live.store.agent("solo")
    assert solo is not None and solo.state == "reserved" and solo.call == kept  # freed, then given the live call
    assert await live.store.sweep() == []
    await live.store.leave(kept)
    assert (await live.store.agent("solo")).state == "available"  # no dead call is handed to it
    assert await redis.sismember(P + "owners", "ghost") == 0
    assert await redis.exists(P + "owned:ghost") == 0
    assert [(await live.store.call_state(u))[0] for u in uids] == ["left"] * 7


async def test_restart_with_a_stable_id_cleans_up_its_earlier_life(redis: Redis) -> None:
    """An instance started again under the same id frees its earlier life's calls at once, lease or not."""
    router = _router(redis, "stable")
    await router.seed(CONFIG)
    await router.store.action("solo", "login")
    await router.store.heartbeat("stable", 60)  # the earlier life's lease is still running
    uids = await _ghost_calls(router.store, "stable", 3)
    await router.liveness.start()
    assert [(await router.store.call_state(u))[0] for u in uids] == ["left"] * 3
    assert (await router.store.agent("solo")).state == "available"


async def test_redis_restarted_empty_is_seeded_again_with_logins_and_device_states(tmp_path: Path) -> None:
    """Redis restarts without persistence: the heartbeat notices, agents come back from routing.yaml, the login
    last seen is restored and the device states are asked for again; callers in line are given up."""
    server = RedisServer(tmp_path / "redis").start()
    client = Redis.from_url(server.url)
    resyncs: list[str] = []

    async def resync() -> None:
        resyncs.append("device states")
    router = CallRouter(RouteStore(client), lambda: CONFIG, asyncio.get_running_loop(), logging.getLogger("r"),
                        sweep_interval=60, liveness=LivenessSettings("one", 3.0, 0.1, 5.0), on_reseed=resync)
    try:
        await router.seed(CONFIG)
        await router.store.action("solo", "login")
        await router.store.action("solo", "pause", "lunch")
        await router.liveness.beat()  # remembers who was logged in
        assert router.liveness.presence == {"solo": "paused"}
        await router.store.upsert_agent(AgentSeed("busy", "Busy", "PJSIP/busy", {"support": 9}, ("en",)))
        await router.store.action("busy", "login")
        ticket = await router.request("waiting-1", skills={"billing": 1}, language="", segment="standard",
                                      customer="", priority=0, relaxation=None, queue="billing")
        server.stop()
        server = RedisServer(tmp_path / "redis", port=server.port).start()  # same port, nothing in it
        for _ in range(3):  # the first command on the old connection may fail; the client reconnects
            await router.liveness.beat()
            if router.liveness.reseeds:
                break
        assert router.liveness.reseeds == 1 and resyncs == ["device states"]
        solo = await router.store.agent("solo")
        assert solo is not None and solo.state == "paused"
        assert await router.store.agent("busy") is None  # not in routing.yaml: it is not invented
        assert await asyncio.wait_for(ticket.unreachable(), 1) == "router-state-lost"
        await router.liveness.beat()
        assert router.liveness.reseeds == 1  # the sentinel is back: seeded once
    finally:
        await client.aclose()
        server.stop()


async def test_many_dead_calls_are_reaped_in_short_runs(redis_server: RedisServer, redis: Redis) -> None:
    """A dead instance's 450 calls (some with an agent reserved) leave the line in runs of at most 100, the agents
    only after every dead call is out, so no freed agent is handed a dead call; a live call gets a freed agent."""
    store = RouteStore(redis)
    for i in range(5):
        await store.upsert_agent(AgentSeed(f"a{i}", f"A{i}", f"PJSIP/a{i}", {"billing": 5}, ("en",)))
        await store.action(f"a{i}", "login")
    for i in range(450):
        await store.offer(f"dead-{i}", {"billing": 1}, (), "", 10, 0, "", "", "q", "standard", instance="ghost")
    await store.heartbeat("ghost", 0.05)
    await store.heartbeat("alive", 60)
    await store.offer("live-1", {"billing": 1}, (), "", 1, 0, "", "", "q", "standard", instance="alive")
    await redis.delete("sb:{sb}:owner:ghost")  # the ghost's lease lapsed
    await redis.config_set("slowlog-log-slower-than", 0)  # every command, those inside scripts too
    await redis.config_set("slowlog-max-len", 100000)
    await redis.slowlog_reset()
    done = await store.reap(batch=100)
    runs = [e for e in await redis.slowlog_get(100000) if e["command"].startswith(b"FCALL")]
    assert done.released == 450 and len(runs) >= 5  # 450 calls and then 5 agents, 100 per run
    assert done.assigned == ["live-1"]  # one freed agent took the live call; no dead call was handed out
    states = [(await store.call_state(f"dead-{i}"))[0] for i in range(450)]
    assert set(states) == {"left"}
    assert not await redis.exists("sb:{sb}:reaping") and not await redis.exists("sb:{sb}:owned:ghost")


async def test_heartbeat_reads_the_states_a_page_at_a_time(redis_server: RedisServer, redis: Redis) -> None:
    """With 1,200 agents each heartbeat returns a page of their states; the pages of a pass cover every agent."""
    store = RouteStore(redis)
    for i in range(1200):
        await store.upsert_agent(AgentSeed(f"a{i}", f"A{i}", f"PJSIP/a{i}", {"billing": 5}, ("en",)))
    await store.mark_seeded()
    seen: dict[str, str] = {}
    beat = await store.heartbeat("me", 5)
    pages = 1
    seen.update(beat.states)
    while beat.cursor != "0":
        beat = await store.heartbeat("me", 5, beat.cursor)
        seen.update(beat.states)
        pages += 1
    assert pages >= 2 and len(seen) == 1200 and set(seen.values()) == {"logged_out"}


async def test_the_sweep_frees_many_agents_in_short_runs(redis_server: RedisServer, redis: Redis) -> None:
    """30 wrap-ups ending at once are freed in runs of at most 7 agents (one sweep call runs the script until
    nothing more is due) and the waiting calls are given to them."""
    store = RouteStore(redis)
    for i in range(30):
        await store.upsert_agent(AgentSeed(f"a{i}", f"A{i}", f"PJSIP/a{i}", {"billing": 5}, ("en",)))
        await store.action(f"a{i}", "login")
        await store.device(f"a{i}", "on_call", 60)
        assert (await store.device(f"a{i}", "idle", 60))[0] == "wrap_up"
    for i in range(10):
        await store.offer(f"c{i}", {"billing": 1}, (), "", 10, 0, "", "", "q", "standard")
    await redis.zadd("sb:{sb}:wrapping", {f"a{i}": 1 for i in range(30)})  # every wrap-up ended long ago
    await redis.config_set("slowlog-log-slower-than", 0)  # every command, those inside scripts too
    await redis.config_set("slowlog-max-len", 100000)
    await redis.slowlog_reset()
    assigned = await store.sweep(batch=7)
    runs = [e for e in await redis.slowlog_get(100000) if e["command"].startswith(b"FCALL")]
    assert sorted(assigned) == sorted(f"c{i}" for i in range(10)) and len(runs) == 5
    states = [(await store.agent(f"a{i}")).state for i in range(30)]  # type: ignore[union-attr]
    assert states.count("reserved") == 10 and states.count("available") == 20
