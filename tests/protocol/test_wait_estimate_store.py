"""Wait estimates from the router's own view on a real redis-server: place in line, eligible agents, handle times."""
from __future__ import annotations

import asyncio
import logging

import pytest
from redis.asyncio import Redis

from switchboard.router.call_router import CallRouter
from switchboard.router.route_store import RouteStore
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment


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
