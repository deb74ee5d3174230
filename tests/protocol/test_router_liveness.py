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
