"""The agent HTTP API: `GET /agents` (list with state), `POST /agents/<id>/<login|logout|pause|resume>`.

POST changes state, so like the reload endpoint it sits on loopback by default and needs the bearer token when one
is configured (mandatory when HTTP is exposed). `pause` takes `?reason=...` (a short single line). The listing
names every agent and their state: the token holder or a signed-in supervisor may read it (`http_auth.Access`).
"""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable, Protocol, Sequence

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.http_auth import Access

ACTIONS = ("login", "logout", "pause", "resume")


class AgentView(Protocol):
    """One agent as the listing shows it (the router's `AgentRecord` satisfies it)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def skills(self) -> str: ...

    @property
    def languages(self) -> str: ...


ListAgents = Callable[[], Awaitable[Sequence[AgentView]]]
"""Every agent with its state."""
AgentAction = Callable[[str, str, str], Awaitable[str]]
"""(agent, action, reason) -> the new state, "unknown", or "busy:<why>" / "refused:<why>"."""


def _reply(request: Request, code: int, body: object) -> None:
    request.setResponseCode(code)
    request.setHeader("Content-Type", "application/json")
    request.write(json.dumps(body).encode() + b"\n")
    request.finish()


class AgentsResource(Resource):
    """/agents (GET: the listing) and the parent of /agents/<id>/<action>."""

    def __init__(self, agents: ListAgents, act: AgentAction, auth: Access) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._agents = agents
        self._act = act
        self._auth = auth

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802
        if not path:
            return self
        return _AgentResource(path.decode("utf-8", "replace"), self._act, self._auth)

    def render_GET(self, request: Request) -> object:  # noqa: N802
        if not self._auth.may(request, "supervise"):
            request.setResponseCode(401)
            return b'{"error": "missing or wrong bearer token"}\n'

        def done(records: Sequence[AgentView]) -> None:
            _reply(request, 200, [{"id": r.id, "name": r.name, "endpoint": r.endpoint, "state": r.state,
                                   "reason": r.reason, "skills": r.skills, "languages": r.languages}
                                  for r in records])

        def failed(failure: object) -> None:
            _reply(request, 503, {"error": "agent store unavailable"})
        Deferred.fromFuture(asyncio.ensure_future(self._agents())).addCallbacks(done, failed)
        return NOT_DONE_YET


class _AgentResource(Resource):
    isLeaf = True

    def __init__(self, agent: str, act: AgentAction, auth: Access) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._agent = agent
        self._act = act
        self._auth = auth

    def render_POST(self, request: Request) -> object:  # noqa: N802
        if not self._auth.allows(request):
            request.setResponseCode(401)
            return b'{"error": "missing or wrong bearer token"}\n'
        action = request.postpath[0].decode("utf-8", "replace") if request.postpath else ""
        if action not in ACTIONS:
            request.setResponseCode(404)
            return json.dumps({"error": f"unknown action {action!r}; use one of {', '.join(ACTIONS)}"}).encode()
        args: dict[bytes, list[bytes]] = request.args or {}
        reason = (args.get(b"reason") or [b""])[0].decode("utf-8", "replace")
        if any(c in reason for c in "\r\n\0") or len(reason) > 64:
            request.setResponseCode(400)
            return b'{"error": "reason must be one short line (64 characters at most)"}\n'

        def done(state: str) -> None:
            if state == "unknown":
                _reply(request, 404, {"error": f"no agent {self._agent!r}"})
            elif state.startswith(("busy:", "refused:")):
                _reply(request, 409, {"error": f"{action} refused while {state.split(':', 1)[1]}"})
            else:
                _reply(request, 200, {"agent": self._agent, "state": state})

        def failed(failure: object) -> None:
            _reply(request, 503, {"error": "agent store unavailable"})
        Deferred.fromFuture(asyncio.ensure_future(self._act(self._agent, action, reason))).addCallbacks(done, failed)
        return NOT_DONE_YET
