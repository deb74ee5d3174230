"""The agent HTTP API: `GET /agents` (list with state), `POST /agents/<id>/<login|logout|pause|resume>`.

POST changes state, so like the reload endpoint it sits on loopback by default and needs the bearer token when one
is configured (mandatory when HTTP is exposed). `pause` takes `?reason=...` (a short single line).
"""
from __future__ import annotations

import asyncio
import hmac
import json
from typing import Awaitable, Callable

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.router.route_store import AgentRecord

ACTIONS = ("login", "logout", "pause", "resume")


def _authorised(request: Request, token: str) -> bool:
    if not token:
        return True
    given = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


def _reply(request: Request, code: int, body: object) -> None:
    request.setResponseCode(code)
    request.setHeader("Content-Type", "application/json")
    request.write(json.dumps(body).encode() + b"\n")
    request.finish()


class AgentsResource(Resource):
    def __init__(self, agents: Callable[[], Awaitable[list[AgentRecord]]],
                 act: Callable[[str, str, str], Awaitable[str]], token: str) -> None:
        super().__init__()
        self._agents = agents
        self._act = act
        self._token = token

    def getChild(self, path: bytes, request: Request) -> Resource:
        if not path:
            return self
        return _AgentResource(path.decode("utf-8", "replace"), self._act, self._token)

    def render_GET(self, request: Request) -> object:
        def done(records: list[AgentRecord]) -> None:
            _reply(request, 200, [{"id": r.id, "name": r.name, "endpoint": r.endpoint, "state": r.state,
                                   "reason": r.reason, "skills": r.skills, "languages": r.languages}
                                  for r in records])

        def failed(failure: object) -> None:
            _reply(request, 503, {"error": "agent store unavailable"})
        Deferred.fromFuture(asyncio.ensure_future(self._agents())).addCallbacks(done, failed)
        return NOT_DONE_YET


class _AgentResource(Resource):
    isLeaf = True

    def __init__(self, agent: str, act: Callable[[str, str, str], Awaitable[str]], token: str) -> None:
        super().__init__()
        self._agent = agent
        self._act = act
        self._token = token

    def render_POST(self, request: Request) -> object:
        if not _authorised(request, self._token):
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
