"""Signed-in people of the pages: who holds which session cookie, for how long, and the cookie itself.

A session is a random 256-bit token kept only in this process's memory (a restart signs everyone out); the browser
holds it in an `HttpOnly; SameSite=Strict` cookie, so page scripts cannot read it, other sites cannot send it, and
`EventSource` carries it without any header. Sessions end after `idle` seconds without use, after `lifetime`
seconds in any case, or when signed out. Tokens are never logged.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Callable, Literal

from twisted.web.server import Request

COOKIE = "sb_session"
MAX_SESSIONS = 10_000

Role = Literal["agent", "supervisor", "admin"]


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: an agent (by agent id), a supervisor (by name) or the API token holder."""

    role: Role
    name: str


@dataclass
class _Session:
    who: Principal
    started: float
    used: float


class Sessions:
    """The open sessions; `start` after a good sign-in, `find` on each request, `end` on sign-out."""

    def __init__(self, idle: float = 8 * 3600, lifetime: float = 12 * 3600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle
        self._lifetime = lifetime
        self._clock = clock
        self._open: dict[str, _Session] = {}

    def __repr__(self) -> str:
        return f"Sessions({len(self._open)} open)"

    def start(self, who: Principal) -> str:
        """A new session for `who`; returns the token to put in the cookie."""
        now = self._clock()
        if len(self._open) >= MAX_SESSIONS:
            self._expire(now)
            if len(self._open) >= MAX_SESSIONS:  # still full: the least recently used one goes
                del self._open[min(self._open, key=lambda t: self._open[t].used)]
        token = secrets.token_urlsafe(32)
        self._open[token] = _Session(who, now, now)
        return token

    def find(self, token: str) -> Principal | None:
        session = self._open.get(token)
        if session is None:
            return None
        now = self._clock()
        if now - session.used > self._idle or now - session.started > self._lifetime:
            del self._open[token]
            return None
        session.used = now
        return session.who

    def end(self, token: str) -> None:
        self._open.pop(token, None)

    def end_all(self, who: Principal) -> None:
        """Signs `who` out everywhere (a new credential was issued)."""
        for token in [t for t, s in self._open.items() if s.who == who]:
            del self._open[token]

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._open.items()
                      if now - s.used > self._idle or now - s.started > self._lifetime]:
            del self._open[token]


def cookie_token(request: Request) -> str:
    """The session token the request carries ("" when none)."""
    for part in (request.getHeader("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip()
    return ""


def _cookie(request: Request, value: str, extra: str = "") -> None:
    secure = "; Secure" if request.isSecure() else ""
    request.responseHeaders.addRawHeader(
        b"set-cookie", f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{extra}".encode())


def set_cookie(request: Request, token: str) -> None:
    """The session cookie: no Max-Age, so it ends with the browser too."""
    _cookie(request, token)


def clear_cookie(request: Request) -> None:
    _cookie(request, "", "; Max-Age=0")
