"""Unit tests of the in-memory endpoint → agent map: one Redis read per routing.yaml version, rebuilt on change."""
from __future__ import annotations

from switchboard.router.endpoint_map import EndpointMap
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment


def config(*agents: tuple[str, str]) -> RoutingConfig:
    seeds = {agent: AgentSeed(agent, agent.title(), endpoint, {"billing": 5}, ("en",)) for agent, endpoint in agents}
    return RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                         relaxation={"default": ()}, agents=seeds)


class Stored:
    """Redis's endpoint hash as the map reads it; counts reads and can fail."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints_now = endpoints
        self.reads = 0
        self.failing = False

    async def endpoints(self) -> dict[str, str]:
        self.reads += 1
        if self.failing:
            raise ConnectionError("redis away")
        return dict(self.endpoints_now)


async def test_one_read_per_routing_version_and_a_reload_rebuilds() -> None:
    """Many lookups read Redis once; a new routing config (a reload) reads it again and knows the new agent."""
    stored = Stored({"PJSIP/desk4": "osman"})
    current = [config(("osman", "PJSIP/desk4"))]
    endpoints = EndpointMap(stored, lambda: current[0])
    for _ in range(5):
        assert await endpoints.agent_for_endpoint("PJSIP/desk4") == "osman"
        assert await endpoints.agent_for_endpoint("PJSIP/trunk") is None
    assert stored.reads == 1
    current[0] = config(("osman", "PJSIP/desk4"), ("ines", "PJSIP/desk7"))  # the reload adds Ines
    assert await endpoints.agent_for_endpoint("PJSIP/desk7") == "ines"  # before her seed reached Redis
    assert stored.reads == 2


async def test_routing_yaml_wins_and_other_stored_agents_stay_known() -> None:
    """An agent moved to another desk in routing.yaml resolves there; an agent only Redis knows still resolves."""
    stored = Stored({"PJSIP/desk4": "osman", "PJSIP/desk9": "other-instance"})
    routing = config(("ines", "PJSIP/desk4"))
    endpoints = EndpointMap(stored, lambda: routing)
    assert await endpoints.agent_for_endpoint("PJSIP/desk4") == "ines"
    assert await endpoints.agent_for_endpoint("PJSIP/desk9") == "other-instance"


async def test_failed_read_uses_routing_yaml_and_retries_then_invalidate_rereads() -> None:
    """Redis away: routing.yaml's agents resolve and the next lookup reads again; `invalidate` forces a read."""
    stored = Stored({"PJSIP/desk9": "late"})
    stored.failing = True
    routing = config(("osman", "PJSIP/desk4"))
    endpoints = EndpointMap(stored, lambda: routing)
    assert await endpoints.agent_for_endpoint("PJSIP/desk4") == "osman"
    stored.failing = False
    assert await endpoints.agent_for_endpoint("PJSIP/desk9") == "late"
    reads = stored.reads
    await endpoints.agent_for_endpoint("PJSIP/desk4")
    assert stored.reads == reads
    endpoints.invalidate()
    await endpoints.agent_for_endpoint("PJSIP/desk4")
    assert stored.reads == reads + 1
