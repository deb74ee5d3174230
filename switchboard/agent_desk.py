"""The router as the agent desktop sees it: one agent's status, the state buttons, pause reasons, wrap-up time.

Adapts `router.call_router.CallRouter` to `http_pages.AgentDesk`, and answers the questions the HTTP side asks
about agents (is there such an agent; who sits at a device) from the router's store.
"""
from __future__ import annotations

import time
from typing import Sequence

from switchboard.http_pages import AgentStatus
from switchboard.router.call_router import CallRouter


class RouterDesk:
    """`AgentDesk` over the running router (states and changes go through its Lua, as the API's do)."""

    def __init__(self, router: CallRouter) -> None:
        self._router = router

    async def status(self, agent: str) -> AgentStatus | None:
        record = await self._router.store.agent(agent)
        if record is None:
            return None
        return AgentStatus(record.id, record.name, record.state, record.reason, record.since_ms,
                           int(time.time() * 1000))

    async def act(self, agent: str, action: str, reason: str) -> str:
        return await self._router.agent_action(agent, action, reason)

    def pause_reasons(self) -> Sequence[str]:
        return self._router.config().pause_reasons

    def wrap_up_seconds(self) -> float:
        return self._router.config().wrap_up

    async def known(self, agent: str) -> bool:
        """Whether routing.yaml (as seeded into Redis) has this agent."""
        return await self._router.store.agent(agent) is not None
