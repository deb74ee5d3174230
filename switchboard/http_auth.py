"""The one place that decides who a request comes from and what they may do.

Two kinds of credentials reach the HTTP side:

* the API bearer token (`Authorization: Bearer <token>`, for scripts, integrations and the CLI): its holder is the
  `admin`. When no token is configured (HTTP on loopback only, enforced by the settings) a request without a
  session is the admin too;
* a session cookie from signing in on a page (`switchboard/http_sessions.py`): an `agent` (by agent id) or a
  `supervisor` (by name), each signed in with their own credential (`switchboard/credentials.py`).

A valid session decides alone: an agent's browser is that agent even on a token-less loopback service. What each
role may do is the table in `Access.may`:

    permission   admin   supervisor   agent
    admin         yes       -           -       reload, agent actions by API
    supervise     yes      yes          -       wallboard, agent listing
    agent:<id>    yes       -       only <id>    the agent's screen pops, state and buttons

The token is compared in constant time and never logged.
"""
from __future__ import annotations

import hmac
from typing import Literal

from twisted.web.server import Request

from switchboard.http_sessions import Principal, Sessions, cookie_token

Permission = Literal["admin", "supervise", "agent"]


class BearerToken:
    """The configured token; `allows(request)` is the only place a request's bearer token is checked."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def __repr__(self) -> str:
        return f"BearerToken({'set' if self._token else 'unset'})"

    @property
    def configured(self) -> bool:
        return bool(self._token)

    def allows(self, request: Request) -> bool:
        """True when no token is configured or the request's `Authorization: Bearer` value matches it."""
        if not self._token:
            return True
        given = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self._token)


class Access:
    """Who a request is (`principal`) and whether they may do something (`may`)."""

    def __init__(self, token: BearerToken, sessions: Sessions | None = None) -> None:
        self.token = token
        self.sessions = sessions if sessions is not None else Sessions()

    def __repr__(self) -> str:
        return f"Access({self.token!r}, {self.sessions!r})"

    def allows(self, request: Request) -> bool:
        """The admin check (state changes by API): the bearer token, as before sessions existed."""
        return self.may(request, "admin")

    def principal(self, request: Request) -> Principal | None:
        """The signed-in person, else the admin when the bearer token checks out, else nobody."""
        token = cookie_token(request)
        if token:
            who = self.sessions.find(token)
            if who is not None:
                return who
        if request.getHeader("authorization") is None and not self.token.configured and token:
            return None  # a stale cookie on a token-less service: sign in again rather than act as admin
        return Principal("admin", "") if self.token.allows(request) else None

    def may(self, request: Request, permission: Permission, agent: str = "") -> bool:
        """The table in the module docstring."""
        who = self.principal(request)
        if who is None:
            return False
        if who.role == "admin":
            return True
        if permission == "supervise":
            return who.role == "supervisor"
        if permission == "agent":
            return who.role == "agent" and bool(agent) and hmac.compare_digest(who.name, agent)
        return False
