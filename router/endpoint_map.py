"""Which agent sits at which device (`PJSIP/desk4` → `osman`), kept in memory instead of read per AMI event.

AMI names devices, the router names agents. The map is routing.yaml's agents (what the router seeds into Redis's
endpoint hash) over the endpoint hash as Redis holds it (agents seeded by another instance or from an earlier
routing.yaml are still known). It is built once per routing.yaml version: when the routing config the router
serves is a new object (a reload, which is also how agents change) the next lookup reads the hash again, once.
A failed read leaves the map to routing.yaml's agents and is retried at the next lookup.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Mapping, Protocol

from switchboard.router.routing_config import RoutingConfig


class EndpointSource(Protocol):
    """Redis's endpoint → agent hash (router.route_store.RouteStore)."""

    def endpoints(self) -> Awaitable[dict[str, str]]: ...


class EndpointMap:
    """Endpoint → agent id, refreshed when the routing config changes; `agent_for_endpoint` is the cti resolver."""

    def __init__(self, store: EndpointSource, config: Callable[[], RoutingConfig]) -> None:
        self._store = store
        self._config = config
        self._seen: RoutingConfig | None = None  # the config the map was built for (None: build at next lookup)
        self._map: dict[str, str] = {}
        self.reads = 0  # times the Redis hash was read (tests and benchmarks look)

    async def current(self) -> Mapping[str, str]:
        """The map for the routing config in force now (read from Redis only when that config is new)."""
        config = self._config()
        if config is not self._seen:
            self._seen = config
            from_config = {seed.endpoint: seed.id for seed in config.agents.values()}
            self.reads += 1
            try:
                stored = await self._store.endpoints()
            except Exception:
                self._seen = None  # Redis away: routing.yaml's agents for now, read again at the next lookup
                stored = {}
            self._map = {**stored, **from_config}
        return self._map

    def invalidate(self) -> None:
        """The next lookup reads Redis again (after the agents were seeded again)."""
        self._seen = None

    async def agent_for_endpoint(self, endpoint: str) -> str | None:
        return (await self.current()).get(endpoint)
