"""The HTTP control endpoints that change state (today: `POST /dialplans/reload`).

They listen with the rest of the HTTP side, on loopback by default. When a token is configured (mandatory when
HTTP is exposed beyond loopback) every request must carry `Authorization: Bearer <token>`; it is compared in
constant time and never logged.
"""
from __future__ import annotations

import asyncio
import hmac
import json
from typing import Awaitable, Callable

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.ivr.dialplan_registry import ReloadResult


class ReloadResource(Resource):
    """POST: validate the dialplans folder and swap it in; 200 with the version, or 422 with every error."""

    isLeaf = True

    def __init__(self, reload: Callable[[str], Awaitable[ReloadResult]], token: str) -> None:
        super().__init__()
        self._reload = reload
        self._token = token

    def render_POST(self, request: Request) -> object:
        if self._token:
            given = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                request.setResponseCode(401)
                return b'{"error": "missing or wrong bearer token"}\n'

        def done(result: ReloadResult) -> None:
            request.setResponseCode(200 if result.ok else 422)
            request.setHeader("Content-Type", "application/json")
            body = {"ok": result.ok, "version": result.version, "changed": result.changed,
                    "problems": [str(p) for p in result.problems]}
            request.write(json.dumps(body).encode() + b"\n")
            request.finish()
        Deferred.fromFuture(asyncio.ensure_future(self._reload("http"))).addCallback(done)
        return NOT_DONE_YET

    def render_GET(self, request: Request) -> bytes:
        request.setResponseCode(405)
        return b'{"error": "use POST"}\n'
