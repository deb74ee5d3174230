"""The pages people use: the agent desktop (`/agent`), the supervisor wallboard (`/wallboard`) and signing in.

    /agent                 the desktop page (plain HTML, CSS and small JS modules from `switchboard/pages/`)
    /agent/me              GET: the signed-in agent's state, pause reasons, current pop and own calls today
    /agent/action          POST {"action": login|logout|pause|resume, "reason": ...}: through the router
    /wallboard             the wallboard page
    /wallboard/events      SSE: the wallboard snapshot every `interval` seconds (supervisor)
    /session               GET: who am I; POST {"role", "name", "secret"}: sign in (sets the cookie); DELETE: out
    /static/<file>         the pages' CSS and JS (shipped in the wheel; nothing is fetched from elsewhere)

Screen pops reach the desktop over the existing SSE stream `/cti/agents/<id>/events`, which the session cookie
opens for its own agent only. Who may do what is decided by `http_auth.Access`; this module only asks it.
Nothing personal goes in URLs (the agent id is staff data) and nothing personal or secret is logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.credentials import hash_secret, verify
from switchboard.cti.screen_pop import StreamEvent
from switchboard.http_auth import Access
from switchboard.http_sessions import Principal, clear_cookie, cookie_token, set_cookie

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_STATIC = re.compile(r"^[a-z0-9_-]{1,40}\.(css|js|svg)$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
MAX_BODY = 4096
MAX_FAILURES = 5          # sign-in failures per name before a pause
FAILURE_WINDOW = 300.0    # seconds
_DUMMY_HASH = hash_secret("no credential issued")  # checked when none exists, so timing tells nothing


@dataclass(frozen=True)
class AgentStatus:
    """One agent's state as the desktop shows it (times in milliseconds of the router's clock)."""

    id: str
    name: str
    state: str
    reason: str
    since_ms: int
    now_ms: int


class AgentDesk(Protocol):
    """What the desktop needs from the router (`switchboard/agent_desk.py` adapts the CallRouter)."""

    async def status(self, agent: str) -> AgentStatus | None: ...

    async def act(self, agent: str, action: str, reason: str) -> str: ...

    def pause_reasons(self) -> Sequence[str]: ...

    def wrap_up_seconds(self) -> float: ...


StoredCredential = Callable[[str, str], Awaitable[str]]
"""(role, name) -> the stored hash of that person's secret ("" when none was issued)."""
WallboardSnapshot = Callable[[], Awaitable[Mapping[str, Any]]]
"""The wallboard's data right now (`switchboard/wallboard.py`)."""
RecentPops = Callable[[str], Sequence[StreamEvent]]
"""An agent's last screen pops, oldest first (cti's `AgentStreams.recent`)."""


@dataclass(frozen=True)
class PageCollaborators:
    stored_credential: StoredCredential
    recent_pops: RecentPops
    desk: AgentDesk | None = None
    wallboard: WallboardSnapshot | None = None
    wallboard_interval: float = 1.0


def _json(request: Request, code: int, body: object) -> bytes:
    request.setResponseCode(code)
    request.setHeader("Content-Type", "application/json")
    request.setHeader("Cache-Control", "no-store")
    return json.dumps(body).encode() + b"\n"


def _finish(request: Request, code: int, body: object) -> None:
    if not request.finished:
        request.write(_json(request, code, body))
        request.finish()


def _run(request: Request, work: Awaitable[tuple[int, object]]) -> object:
    """Answers the request with what the coroutine returns (503 when it raises)."""
    def done(result: tuple[int, object]) -> None:
        _finish(request, *result)

    def failed(failure: object) -> None:
        _finish(request, 503, {"error": "service unavailable"})
    Deferred.fromFuture(asyncio.ensure_future(work)).addCallbacks(done, failed)
    return NOT_DONE_YET


def _body(request: Request) -> dict[str, Any] | None:
    """The JSON object a POST carries; None unless it is `application/json` (other sites cannot send that
    without asking first) and small."""
    if not (request.getHeader("content-type") or "").startswith("application/json") or request.content is None:
        return None
    raw = request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class PageFile(Resource):
    """One HTML page of `switchboard/pages/`, with the headers every page gets."""

    isLeaf = True

    def __init__(self, name: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._name = name

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        return serve_file(request, self._name)


def serve_file(request: Request, name: str) -> bytes:
    path = resources.files("switchboard").joinpath("pages", name)
    if not path.is_file():
        request.setResponseCode(404)
        return b"not found\n"
    request.setHeader("Content-Type", _TYPES.get(name[name.rfind("."):], "application/octet-stream"))
    request.setHeader("Content-Security-Policy", _CSP)
    request.setHeader("X-Content-Type-Options", "nosniff")
    request.setHeader("Referrer-Policy", "no-referrer")
    request.setHeader("Cache-Control", "no-cache")
    return path.read_bytes()


class StaticFiles(Resource):
    """/static/<file>: the pages' CSS and JS."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802
        name = path.decode("ascii", "replace")
        if not _STATIC.match(name):
            missing: Resource = Resource.getChild(self, path, request)
            return missing
        return PageFile(name)


class SessionResource(Resource):
    """/session: sign in, who am I, sign out."""

    isLeaf = True

    def __init__(self, access: Access, stored: StoredCredential, log: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._access = access
        self._stored = stored
        self._log = log
        self._clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        token = cookie_token(request)
        who = self._access.sessions.find(token) if token else None
        if who is None:
            return _json(request, 401, {"error": "not signed in"})
        return _json(request, 200, {"role": who.role, "name": who.name})

    def render_DELETE(self, request: Request) -> bytes:  # noqa: N802
        token = cookie_token(request)
        if token:
            self._access.sessions.end(token)
        clear_cookie(request)
        return _json(request, 200, {"signed_out": True})

    def render_POST(self, request: Request) -> object:  # noqa: N802
        body = _body(request)
        if body is None:
            return _json(request, 400, {"error": "send JSON {role, name, secret}"})
        role, name, secret = body.get("role"), body.get("name"), body.get("secret")
        if role not in ("agent", "supervisor") or not isinstance(name, str) or not _NAME.match(name) \
                or not isinstance(secret, str) or not 0 < len(secret) <= 256:
            return _json(request, 400, {"error": "role must be agent or supervisor, with a name and a secret"})
        now = self._clock()
        recent = [t for t in self._failures.get((role, name), []) if now - t < FAILURE_WINDOW]
        self._failures[(role, name)] = recent
        if len(recent) >= MAX_FAILURES:
            return _json(request, 429, {"error": "too many failed attempts; try again in a few minutes"})
        return _run(request, self._sign_in(request, role, name, secret))

    async def _sign_in(self, request: Request, role: str, name: str, secret: str) -> tuple[int, object]:
        stored = await self._stored(role, name)
        good = await asyncio.get_running_loop().run_in_executor(None, verify, secret, stored or _DUMMY_HASH)
        if not (good and stored):
            self._failures.setdefault((role, name), []).append(self._clock())
            self._log.info("sign-in refused (%s)", role)
            return 401, {"error": "wrong name or secret"}
        self._failures.pop((role, name), None)
        old = cookie_token(request)
        if old:
            self._access.sessions.end(old)
        set_cookie(request, self._access.sessions.start(Principal(role, name)))  # type: ignore[arg-type]
        self._log.info("%s %s signed in", role, name)
        return 200, {"role": role, "name": name}


def _agent_of(access: Access, request: Request) -> str | None:
    """The agent id of a signed-in agent (other principals get nothing here)."""
    token = cookie_token(request)
    who = access.sessions.find(token) if token else None
    return who.name if who is not None and who.role == "agent" else None


def calls_today(pops: Sequence[StreamEvent], now: float) -> list[dict[str, Any]]:
    """The agent's own calls since local midnight, newest first, one row per call, from their last pops."""
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    rows: dict[str, dict[str, Any]] = {}
    for event in pops:
        p = event.payload
        at = float(p.get("at") or 0)
        if at < midnight:
            continue
        customer = p.get("customer") or {}
        row = rows.setdefault(str(p.get("uniqueid", "")), {"at": at, "customer": customer.get("name", ""),
                                                           "segment": p.get("segment", ""), "answered": False,
                                                           "intents": p.get("intents", [])})
        if p.get("event") == "answered":
            row["answered"] = True
    return sorted(rows.values(), key=lambda r: -float(r["at"]))


class AgentPage(Resource):
    """/agent (the page), /agent/me and /agent/action."""

    def __init__(self, access: Access, desk: AgentDesk | None, recent: RecentPops, log: logging.Logger) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._access = access
        self._desk = desk
        self._recent = recent
        self._log = log

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802
        if path in (b"", b"index.html"):
            return PageFile("agent.html")
        if path == b"me":
            return _Call(self._me)
        if path == b"action":
            return _Call(self._action)
        missing: Resource = Resource.getChild(self, path, request)
        return missing

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        return serve_file(request, "agent.html")

    def _me(self, request: Request) -> object:
        agent = _agent_of(self._access, request)
        if agent is None:
            return _json(request, 401, {"error": "sign in as an agent"})
        return _run(request, self._status(agent))

    async def _status(self, agent: str) -> tuple[int, object]:
        status = await self._desk.status(agent) if self._desk is not None else None
        if status is None:
            return 404, {"error": "no such agent in routing.yaml"}
        pops = self._recent(agent)
        current = pops[-1].payload if pops and status.state in ("reserved", "ringing", "on_call", "wrap_up") \
            else None
        assert self._desk is not None
        return 200, {"agent": status.id, "name": status.name, "state": status.state, "reason": status.reason,
                     "since_ms": status.since_ms, "now_ms": status.now_ms,
                     "wrap_up_seconds": self._desk.wrap_up_seconds(),
                     "pause_reasons": list(self._desk.pause_reasons()),
                     "current_pop": current, "calls_today": calls_today(pops, time.time())}

    def _action(self, request: Request) -> object:
        if request.method != b"POST":
            request.setResponseCode(405)
            return b"POST only\n"
        agent = _agent_of(self._access, request)
        if agent is None or not self._access.may(request, "agent", agent):
            return _json(request, 401, {"error": "sign in as an agent"})
        body = _body(request)
        action = body.get("action") if body else None
        reason = body.get("reason", "") if body else ""
        if action not in ("login", "logout", "pause", "resume") or not isinstance(reason, str):
            return _json(request, 400, {"error": "action must be login, logout, pause or resume"})
        desk = self._desk
        if desk is None:
            return _json(request, 404, {"error": "routing is off (no routing.yaml)"})
        if action == "pause" and reason not in desk.pause_reasons():
            return _json(request, 400, {"error": "pick a pause reason from the list"})

        async def act() -> tuple[int, object]:
            state = await desk.act(agent, str(action), reason if action == "pause" else "")
            if state == "unknown":
                return 404, {"error": "no such agent in routing.yaml"}
            if state.startswith(("busy:", "refused:")):
                return 409, {"error": f"not possible while {state.split(':', 1)[1].replace('_', ' ')}"}
            return 200, {"state": state}
        return _run(request, act())


class _Call(Resource):
    isLeaf = True

    def __init__(self, handler: Callable[[Request], object]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._handler = handler

    def render_GET(self, request: Request) -> object:  # noqa: N802
        return self._handler(request)

    def render_POST(self, request: Request) -> object:  # noqa: N802
        return self._handler(request)


class WallboardPage(Resource):
    """/wallboard (the page) and /wallboard/events (the live snapshot as SSE, supervisors only)."""

    def __init__(self, access: Access, snapshot: WallboardSnapshot | None, interval: float,
                 log: logging.Logger) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._access = access
        self._snapshot = snapshot
        self._interval = interval
        self._log = log

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802
        if path in (b"", b"index.html"):
            return PageFile("wallboard.html")
        if path == b"events":
            return _Call(self._events)
        missing: Resource = Resource.getChild(self, path, request)
        return missing

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        return serve_file(request, "wallboard.html")

    def _events(self, request: Request) -> object:
        if not self._access.may(request, "supervise"):
            return _json(request, 401, {"error": "sign in as a supervisor"})
        snapshot = self._snapshot
        if snapshot is None:
            return _json(request, 404, {"error": "routing is off (no routing.yaml)"})
        request.setHeader("Content-Type", "text/event-stream")
        request.setHeader("Cache-Control", "no-cache")
        request.write(b": connected\n\n")

        async def pump() -> None:
            failing = False
            while True:
                try:
                    data = await snapshot()
                    request.write(f"event: wallboard\ndata: {json.dumps(data)}\n\n".encode())
                    failing = False
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis away: say so on the board, keep trying
                    if not failing:
                        self._log.warning("wallboard snapshot failed (%s)", type(exc).__name__)
                    failing = True
                    request.write(b'event: stale\ndata: {}\n\n')
                await asyncio.sleep(self._interval)  # the board refreshes at a steady pace by design

        task = asyncio.ensure_future(pump())
        request.notifyFinish().addBoth(lambda _: task.cancel())
        return NOT_DONE_YET


def add_pages(root: Resource, access: Access, parts: PageCollaborators, log: logging.Logger) -> None:
    """Puts the pages, the session endpoint and the static files into the resource tree."""
    root.putChild(b"", _Redirect(b"/agent"))
    root.putChild(b"agent", AgentPage(access, parts.desk, parts.recent_pops, log))
    root.putChild(b"wallboard", WallboardPage(access, parts.wallboard, parts.wallboard_interval, log))
    root.putChild(b"session", SessionResource(access, parts.stored_credential, log))
    root.putChild(b"static", StaticFiles())


class _Redirect(Resource):
    isLeaf = True

    def __init__(self, to: bytes) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._to = to

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        request.redirect(self._to)
        return b""
