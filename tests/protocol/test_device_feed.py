"""AMI device states reaching the router against a real redis-server: in order, pipelined, resolved in memory."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import pytest
from redis.asyncio import Redis

from switchboard.cti.ami_client import AMIClient, AMISettings
from switchboard.router.call_router import CallRouter
from switchboard.router.route_store import RouteStore
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment
from tests.protocol.fake_ami import FakeAMI


def routing(*agents: str) -> RoutingConfig:
    seeds = {a: AgentSeed(a, a.title(), f"PJSIP/{a}", {"billing": 5}, ("en",)) for a in agents}
    return RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                         relaxation={"default": ()}, wrap_up=0, agents=seeds)


class RecordingStore(RouteStore):
    """Records each batch of device updates and tells when `expected` updates were applied."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.batches: list[list[tuple[str, str]]] = []
        self.endpoint_reads = 0
        self.expected = 0
        self.done = asyncio.Event()

    async def devices(self, updates: list[tuple[str, str]], wrap_up: float) -> list[tuple[str, str] | Exception]:
        results = await super().devices(updates, wrap_up)
        self.batches.append(list(updates))
        if sum(len(b) for b in self.batches) >= self.expected:
            self.done.set()
        return results

    async def agent_for_endpoint(self, endpoint: str) -> str | None:
        self.endpoint_reads += 1
        return await super().agent_for_endpoint(endpoint)

    async def endpoints(self) -> dict[str, str]:
        self.endpoint_reads += 1
        return await super().endpoints()


@pytest.fixture
async def wired(redis: Redis) -> AsyncIterator[tuple[CallRouter, RecordingStore, list[RoutingConfig]]]:
    store = RecordingStore(redis)
    current = [routing("a1")]
    router = CallRouter(store, lambda: current[0], asyncio.get_running_loop(), logging.getLogger("test"))
    await router.start()
    yield router, store, current
    await router.stop()


async def test_device_states_arrive_in_order_in_one_batch_and_trunks_cost_nothing(
        wired: tuple[CallRouter, RecordingStore, list[RoutingConfig]]) -> None:
    """A reserved agent's ringing, in-use and idle states fed together go in one script call, folded (ringing then
    in use is in use) and in order (the agent ends available, as when each is applied); the trunk's states resolve
    to no agent without a Redis read."""
    router, store, _ = wired
    await store.action("a1", "login")
    offered = await store.offer("u1", {"billing": 1}, (), "", 10.0, 0.0, "", "", "billing", "standard")
    assert offered.agent == "a1"
    store.expected = 2
    for device, state in [("PJSIP/a1", "RINGING"), ("PJSIP/callers", "INUSE"), ("PJSIP/a1", "INUSE"),
                          ("PJSIP/a1", "INUSE"), ("PJSIP/a1", "NOT_INUSE"), ("PJSIP/callers", "NOT_INUSE")]:
        router.feed_device(device, state)
    await asyncio.wait_for(store.done.wait(), 5)
    assert store.batches == [[("a1", "on_call"), ("a1", "idle")]]
    assert store.endpoint_reads == 1  # the map's one read; none per event
    agent = await store.agent("a1")
    assert agent is not None and agent.state == "available"


async def test_an_agent_added_by_a_reload_gets_its_device_states(
        wired: tuple[CallRouter, RecordingStore, list[RoutingConfig]]) -> None:
    """After routing.yaml gains an agent (a new config object), the map is rebuilt and her device states apply."""
    router, store, current = wired
    store.expected = 1
    router.feed_device("PJSIP/a1", "INUSE")
    await asyncio.wait_for(store.done.wait(), 5)
    current[0] = routing("a1", "b2")
    await router.seed(current[0])
    await store.action("b2", "login")
    store.expected, store.done = 2, asyncio.Event()
    router.feed_device("PJSIP/b2", "INUSE")
    await asyncio.wait_for(store.done.wait(), 5)
    assert store.batches[-1] == [("b2", "on_call")]
    agent = await store.agent("b2")
    assert agent is not None and agent.state == "on_call"
    assert store.endpoint_reads == 2  # once per routing version


async def test_pipelined_device_updates_survive_a_script_cache_flush(redis: Redis) -> None:
    """After Redis forgot the functions (restart, FUNCTION FLUSH) a batch still applies every update, in order."""
    store = RouteStore(redis)
    await store.upsert_agent(AgentSeed("a1", "A1", "PJSIP/a1", {"billing": 5}, ("en",)))
    await store.action("a1", "login")
    await redis.function_flush()
    results = await store.devices([("a1", "on_call"), ("a1", "idle")], 0)
    assert results == [("on_call", ""), ("available", "")]


async def test_device_states_read_in_one_pass_reach_redis_in_one_script_call(
        wired: tuple[CallRouter, RecordingStore, list[RoutingConfig]]) -> None:
    """Over a fake AMI with a read pause: the states Asterisk sends while the reader rests are read together,
    dispatched in order and applied as one folded batch (the reserved agent rings, answers, hangs up: available)."""
    router, store, _ = wired
    await store.action("a1", "login")
    assert (await store.offer("u1", {"billing": 1}, (), "", 10.0, 0.0, "", "", "billing", "standard")).agent == "a1"
    fake = FakeAMI(secret="s")
    await fake.start()
    client = AMIClient(AMISettings("127.0.0.1", fake.port, "switchboard", "s", ping_interval=30, ping_timeout=5,
                                   action_timeout=5, reconnect_initial=0.01, reconnect_max=0.1, event_queue_size=100,
                                   events_mask="call", read_pause=0.5),
                       loop=asyncio.get_running_loop(), resync=lambda c: asyncio.sleep(0),
                       logger=logging.getLogger("test.ami"), on_state=lambda up: None)

    async def dispatch() -> None:
        async for event in client.events():
            if event.name == "DeviceStateChange":
                router.feed_device(event.get("Device"), event.get("State"))
    consumer = asyncio.ensure_future(dispatch())
    try:
        await client.start()
        await asyncio.wait_for(client.wait_connected(), 5)
        store.expected = 1
        await fake.push_event("DeviceStateChange", {"Device": "PJSIP/callers", "State": "INUSE"})
        await fake.push_event("DeviceStateChange", {"Device": "PJSIP/a1", "State": "RINGING"})
        await asyncio.wait_for(store.done.wait(), 5)  # read, then the reader rests (0.5 s)
        store.expected, store.done = 3, asyncio.Event()
        for state in ("INUSE", "INUSE", "NOT_INUSE"):  # each its own write while the reader rests
            await fake.push_event("DeviceStateChange", {"Device": "PJSIP/a1", "State": state})
        await asyncio.wait_for(store.done.wait(), 5)
    finally:
        consumer.cancel()
        await client.stop()
        await fake.close()
    assert store.batches == [[("a1", "ringing")], [("a1", "on_call"), ("a1", "idle")]]
    agent = await store.agent("a1")
    assert agent is not None and agent.state == "available"
