"""The agent HTTP API: token on state changes, refused actions, bad reasons — no state changes on refusal."""
from __future__ import annotations

from twisted.web.test.requesthelper import DummyRequest

from switchboard.router.route_store import AgentRecord
from switchboard.http_agents import AgentsResource
from switchboard.http_auth import Access, BearerToken


def _resource(calls: list[tuple[str, str, str]], token: str = "s3cret") -> AgentsResource:
    async def agents() -> list[AgentRecord]:
        return []

    async def act(agent: str, action: str, reason: str) -> str:
        calls.append((agent, action, reason))
        return "paused"
    return AgentsResource(agents, act, Access(BearerToken(token)))


def _post(resource: AgentsResource, agent: bytes, action: bytes, auth: bytes | None,
          args: dict[bytes, list[bytes]] | None = None) -> tuple[DummyRequest, object]:
    request = DummyRequest([action])
    request.method = b"POST"
    request.postpath = [action]
    request.args = args or {}
    if auth is not None:
        request.requestHeaders.addRawHeader(b"authorization", auth)
    child = resource.getChild(agent, request)
    return request, child.render_POST(request)  # type: ignore[attr-defined]


def test_agent_actions_need_the_token() -> None:
    """Without the right bearer token a pause is refused with 401 and never reaches the router."""
    calls: list[tuple[str, str, str]] = []
    request, body = _post(_resource(calls), b"agent1", b"pause", b"Bearer nope")
    assert request.responseCode == 401 and b"bearer token" in body and calls == []


def test_unknown_action_and_multiline_reason_are_refused() -> None:
    """An unknown action is a 404 naming the valid ones; a reason with a newline is a 400 (no AMI/log injection)."""
    calls: list[tuple[str, str, str]] = []
    request, body = _post(_resource(calls), b"agent1", b"dance", b"Bearer s3cret")
    assert request.responseCode == 404 and b"login, logout, pause, resume" in body
    request, body = _post(_resource(calls), b"agent1", b"pause", b"Bearer s3cret", {b"reason": [b"lunch\r\nX: 1"]})
    assert request.responseCode == 400 and calls == []
