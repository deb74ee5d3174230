"""Unit tests of who may do what: credentials, sessions, the one Access table, sign-in, stream isolation, resume."""
from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any, Sequence

from twisted.web.resource import Resource, getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest
from prometheus_client import CollectorRegistry

from switchboard.credentials import hash_secret, issue, verify
from switchboard.cti.screen_pop import AgentStreams
from switchboard.http_auth import Access, BearerToken
from switchboard.http_pages import AgentStatus, PageCollaborators, calls_today
from switchboard.http_sessions import COOKIE, Principal, Sessions
from switchboard.http_site import HttpCollaborators, build_root

OSMAN_SECRET = "osman-secret"
STORED = {("agent", "osman"): hash_secret(OSMAN_SECRET), ("agent", "ada"): hash_secret("ada-secret"),
          ("supervisor", "sam"): hash_secret("sam-secret")}


class _Request(DummyRequest):
    """A DummyRequest with cookies, a body, and an event set on each write."""

    def __init__(self, path: bytes, method: bytes = b"GET", cookie: str = "", auth: bytes | None = None,
                 body: object | None = None, headers: dict[bytes, bytes] | None = None) -> None:
        super().__init__(path.strip(b"/").split(b"/"))
        self.method = method
        self.wrote = asyncio.Event()
        if cookie:
            self.requestHeaders.addRawHeader(b"cookie", f"{COOKIE}={cookie}".encode())
        if auth is not None:
            self.requestHeaders.addRawHeader(b"authorization", auth)
        for name, value in (headers or {}).items():
            self.requestHeaders.addRawHeader(name, value)
        if body is not None:
            self.requestHeaders.addRawHeader(b"content-type", b"application/json")
            self.content = io.BytesIO(json.dumps(body).encode())

    def write(self, data: bytes) -> None:
        super().write(data)
        self.wrote.set()

    def isSecure(self) -> bool:  # noqa: N802 (Twisted's name)
        return False


class Desk:
    """The router as the desktop sees it, in memory."""

    def __init__(self) -> None:
        self.states = {"osman": "available", "ada": "available"}
        self.actions: list[tuple[str, str, str]] = []

    async def status(self, agent: str) -> AgentStatus | None:
        state = self.states.get(agent)
        return None if state is None else AgentStatus(agent, agent.title(), state, "", 1000, 2000)

    async def act(self, agent: str, action: str, reason: str) -> str:
        self.actions.append((agent, action, reason))
        self.states[agent] = {"pause": "paused", "resume": "available", "login": "available"}.get(action,
                                                                                                 "logged_out")
        return self.states[agent]

    def pause_reasons(self) -> Sequence[str]:
        return ("break", "lunch")

    def wrap_up_seconds(self) -> float:
        return 5.0

    async def known(self, agent: str) -> bool:
        return agent in self.states


async def _stored(role: str, name: str) -> str:
    return STORED.get((role, name), "")


def _site(token: str = "s3cret", streams: AgentStreams | None = None,
          desk: Desk | None = None) -> tuple[Resource, Sessions, AgentStreams, Desk]:
    sessions, streams, desk = Sessions(), streams or AgentStreams(), desk or Desk()

    async def board() -> dict[str, Any]:
        return {"queues": [{"queue": "billing", "waiting": 2}]}
    pages = PageCollaborators(_stored, streams.recent, desk=desk, wallboard=board, wallboard_interval=60)
    root = build_root(HttpCollaborators(registry=CollectorRegistry(), token=token, agent_streams=streams,
                                        pages=pages, agent_known=desk.known, sessions=sessions))
    return root, sessions, streams, desk


def _render(root: Resource, request: DummyRequest) -> object:
    return getChildForRequest(root, request).render(request)  # type: ignore[no-untyped-call]


async def _answer(root: Resource, request: _Request) -> tuple[int, bytes]:
    body = _render(root, request)
    if body is NOT_DONE_YET:
        await request.notifyFinish().asFuture(asyncio.get_running_loop())
        return request.responseCode or 200, b"".join(request.written)
    assert isinstance(body, bytes)
    return request.responseCode or 200, body


def _cookie_of(request: DummyRequest) -> str:
    for raw in request.responseHeaders.getRawHeaders(b"set-cookie") or []:
        text = raw.decode()
        if text.startswith(COOKIE + "="):
            return text.split(";", 1)[0].split("=", 1)[1]
    return ""


async def _sign_in(root: Resource, role: str, name: str, secret: str) -> tuple[int, _Request]:
    request = _Request(b"/session", b"POST", body={"role": role, "name": name, "secret": secret})
    code, _ = await _answer(root, request)
    return code, request


def test_credentials_hash_and_verify() -> None:
    """An issued secret verifies against its hash only; the hash is salted and never contains the secret."""
    secret = issue()
    stored = hash_secret(secret)
    assert secret not in stored and stored != hash_secret(secret)
    assert verify(secret, stored)
    assert not verify(secret + "x", stored)
    assert not verify(secret, "") and not verify("", stored) and not verify(secret, "scrypt$1$2$3$bad$bad")


def test_sessions_expire_when_idle_and_end_on_sign_out() -> None:
    """A session is found until it has been idle too long, or until it is ended."""
    now = [0.0]
    sessions = Sessions(idle=10, lifetime=100, clock=lambda: now[0])
    osman = Principal("agent", "osman")
    token = sessions.start(osman)
    now[0] = 9
    assert sessions.find(token) == osman
    now[0] = 18
    assert sessions.find(token) == osman  # used at 9: still fresh
    now[0] = 30
    assert sessions.find(token) is None
    other = sessions.start(osman)
    sessions.end(other)
    assert sessions.find(other) is None and token not in repr(sessions)


def test_access_table() -> None:
    """Token → admin; an agent's session reads only its own agent; a supervisor supervises; a session wins."""
    sessions = Sessions()
    access = Access(BearerToken("s3cret"), sessions)
    osman = sessions.start(Principal("agent", "osman"))
    sam = sessions.start(Principal("supervisor", "sam"))
    admin = _Request(b"/x", auth=b"Bearer s3cret")
    assert access.may(admin, "admin") and access.may(admin, "supervise") and access.may(admin, "agent", "ada")
    assert not access.may(_Request(b"/x"), "agent", "ada")
    agent = _Request(b"/x", cookie=osman)
    assert access.may(agent, "agent", "osman")
    assert not access.may(agent, "agent", "ada") and not access.may(agent, "supervise")
    assert not access.may(agent, "admin")
    boss = _Request(b"/x", cookie=sam)
    assert access.may(boss, "supervise") and not access.may(boss, "agent", "osman")
    open_access = Access(BearerToken(""), sessions)  # token-less loopback: no session means admin ...
    assert open_access.may(_Request(b"/x"), "agent", "ada")
    assert not open_access.may(_Request(b"/x", cookie=osman), "agent", "ada")  # ... but a session decides alone
    assert not open_access.may(_Request(b"/x", cookie="stale"), "admin")


async def test_sign_in_sets_a_strict_http_only_cookie() -> None:
    """The right secret opens a session in an HttpOnly, SameSite=Strict cookie; GET /session says who it is."""
    root, _, _, _ = _site()
    code, request = await _sign_in(root, "agent", "osman", OSMAN_SECRET)
    assert code == 200
    raw = (request.responseHeaders.getRawHeaders(b"set-cookie") or [b""])[0].decode()
    assert "HttpOnly" in raw and "SameSite=strict" in raw.replace("Strict", "strict") and "Path=/" in raw
    code, body = await _answer(root, _Request(b"/session", cookie=_cookie_of(request)))
    assert code == 200 and json.loads(body) == {"role": "agent", "name": "osman"}


async def test_wrong_secret_unknown_name_and_too_many_attempts_are_refused() -> None:
    """A wrong secret or an unknown name is 401 without a cookie; after five failures the name is paused (429)."""
    root, _, _, _ = _site()
    for name in ("osman", "nobody"):
        code, request = await _sign_in(root, "agent", name, "wrong")
        assert code == 401 and _cookie_of(request) == ""
    for _ in range(4):
        await _sign_in(root, "agent", "osman", "wrong")
    code, _ = await _sign_in(root, "agent", "osman", OSMAN_SECRET)
    assert code == 429
    code, _ = await _sign_in(root, "supervisor", "osman", OSMAN_SECRET)  # an agent's secret is not a supervisor's
    assert code == 401


async def test_sign_in_needs_json() -> None:
    """A form post (which another site could send) is refused before any check."""
    root, _, _, _ = _site()
    request = _Request(b"/session", b"POST", headers={b"content-type": b"application/x-www-form-urlencoded"})
    request.content = io.BytesIO(b"role=agent&name=osman&secret=osman-secret")
    code, _ = await _answer(root, request)
    assert code == 400 and _cookie_of(request) == ""


async def test_an_agent_reads_only_their_own_stream() -> None:
    """Osman's cookie opens Osman's stream and gets his pop; Ada's stream is 403 to him and gets nothing of it."""
    root, sessions, streams, _ = _site()
    osman = sessions.start(Principal("agent", "osman"))
    code, body = await _answer(root, _Request(b"/cti/agents/ada/events", cookie=osman))
    assert code == 403 and b"not your stream" in body and "ada" not in streams.subscribers
    mine = _Request(b"/cti/agents/osman/events", cookie=osman)
    assert _render(root, mine) is NOT_DONE_YET
    while b": connected\n\n" not in mine.written:
        mine.wrote.clear()
        await mine.wrote.wait()
    mine.wrote.clear()
    streams.publish("osman", {"event": "ringing", "customer": {"name": "Ada Lovelace"}})
    await mine.wrote.wait()
    assert b"Ada Lovelace" in mine.written[-1] and mine.written[-1].startswith(b"id: ")
    mine.finish()


async def test_unknown_agent_stream_is_404() -> None:
    """The directory does not know the agent: 404 and no subscription, even for the token holder."""
    root, _, streams, _ = _site()
    code, body = await _answer(root, _Request(b"/cti/agents/desk4/events", auth=b"Bearer s3cret"))
    assert code == 404 and b"unknown agent" in body and "desk4" not in streams.subscribers


async def test_last_event_id_resumes_with_the_missed_pops() -> None:
    """A reconnecting stream with Last-Event-ID gets the pops after that id from the replay buffer, in order."""
    streams = AgentStreams(replay=3)
    for n in range(5):
        streams.publish("osman", {"n": n})
    ids = [e.id for e in streams.recent("osman")]
    assert len(ids) == 3 and ids == sorted(ids)  # bounded: the oldest two are gone
    root, _, _, _ = _site(streams=streams)
    request = _Request(b"/cti/agents/osman/events", auth=b"Bearer s3cret",
                       headers={b"last-event-id": str(ids[0]).encode()})
    assert _render(root, request) is NOT_DONE_YET
    while sum(b"data: " in w for w in request.written) < 2:
        request.wrote.clear()
        await request.wrote.wait()
    sent = [w for w in request.written if b"data: " in w]
    assert sent == [f'id: {ids[1]}\nevent: screenpop\ndata: {{"n": 3}}\n\n'.encode(),
                    f'id: {ids[2]}\nevent: screenpop\ndata: {{"n": 4}}\n\n'.encode()]
    request.finish()


async def test_agent_listing_needs_token_or_supervisor() -> None:
    """GET /agents is 401 to nobody and to an agent; a supervisor's session or the token reads it."""
    from switchboard.http_site import AgentControls

    async def listing() -> list[Any]:
        return []

    async def act(agent: str, action: str, reason: str) -> str:
        return "paused"
    sessions = Sessions()
    root = build_root(HttpCollaborators(registry=CollectorRegistry(), token="s3cret", agent_streams=AgentStreams(),
                                        agents=AgentControls(listing, act), sessions=sessions))
    osman = sessions.start(Principal("agent", "osman"))
    sam = sessions.start(Principal("supervisor", "sam"))
    assert (await _answer(root, _Request(b"/agents")))[0] == 401
    assert (await _answer(root, _Request(b"/agents", cookie=osman)))[0] == 401
    assert (await _answer(root, _Request(b"/agents", cookie=sam)))[0] == 200
    assert (await _answer(root, _Request(b"/agents", auth=b"Bearer s3cret")))[0] == 200


async def test_desktop_state_and_pause_go_through_the_desk() -> None:
    """/agent/me shows the signed-in agent's state and reasons; pause takes a listed reason only."""
    root, sessions, streams, desk = _site()
    osman = sessions.start(Principal("agent", "osman"))
    code, body = await _answer(root, _Request(b"/agent/me", cookie=osman))
    me = json.loads(body)
    assert code == 200 and me["agent"] == "osman" and me["pause_reasons"] == ["break", "lunch"]
    code, _ = await _answer(root, _Request(b"/agent/action", b"POST", cookie=osman,
                                           body={"action": "pause", "reason": "nap"}))
    assert code == 400 and desk.actions == []
    code, body = await _answer(root, _Request(b"/agent/action", b"POST", cookie=osman,
                                              body={"action": "pause", "reason": "lunch"}))
    assert code == 200 and json.loads(body) == {"state": "paused"}
    assert desk.actions == [("osman", "pause", "lunch")]
    assert (await _answer(root, _Request(b"/agent/me")))[0] == 401  # no session: nobody's desk


async def test_wallboard_is_for_supervisors() -> None:
    """/wallboard/events refuses an agent and streams the snapshot to a supervisor; the pages are served."""
    root, sessions, _, _ = _site()
    osman = sessions.start(Principal("agent", "osman"))
    sam = sessions.start(Principal("supervisor", "sam"))
    assert (await _answer(root, _Request(b"/wallboard/events", cookie=osman)))[0] == 401
    board = _Request(b"/wallboard/events", cookie=sam)
    assert _render(root, board) is NOT_DONE_YET
    while not any(b"event: wallboard" in w for w in board.written):
        board.wrote.clear()
        await board.wrote.wait()
    assert b'"waiting": 2' in b"".join(board.written)
    board.finish()
    for path, marker in ((b"/agent", b"agent desktop"), (b"/wallboard", b"wallboard"),
                         (b"/static/agent.js", b"EventSource")):
        request = _Request(path)
        code, body = await _answer(root, request)
        assert code == 200 and marker in body, path
        assert (request.responseHeaders.getRawHeaders(b"content-security-policy") or [b""])[0].startswith(
            b"default-src 'self'")
    assert (await _answer(root, _Request(b"/static/..%2fsettings.py")))[0] == 404


def test_calls_today_one_row_per_call_newest_first() -> None:
    """Ringing then answered is one answered row; yesterday's pops are left out."""
    streams = AgentStreams()
    now = 1_900_000_000.0
    streams.publish("osman", {"event": "ringing", "uniqueid": "old", "at": now - 3 * 86400})
    streams.publish("osman", {"event": "ringing", "uniqueid": "u1", "at": now - 60,
                              "customer": {"name": "Ada"}, "segment": "vip"})
    streams.publish("osman", {"event": "answered", "uniqueid": "u1", "at": now - 55})
    streams.publish("osman", {"event": "ringing", "uniqueid": "u2", "at": now - 10})
    rows = calls_today(streams.recent("osman"), now)
    assert [(r["customer"], r["answered"]) for r in rows] == [("", False), ("Ada", True)]


def test_no_secret_or_token_reaches_the_logs(caplog: Any) -> None:
    """Sign-in logs say who signed in, never the secret or the session token."""
    async def run() -> str:
        root, _, _, _ = _site()
        _, request = await _sign_in(root, "agent", "osman", OSMAN_SECRET)
        await _sign_in(root, "agent", "osman", "wrong-guess")
        return _cookie_of(request)
    with caplog.at_level(logging.DEBUG):
        token = asyncio.run(run())
    assert "osman signed in" in caplog.text
    assert OSMAN_SECRET not in caplog.text and "wrong-guess" not in caplog.text and token not in caplog.text
