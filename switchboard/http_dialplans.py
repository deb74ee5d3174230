"""`POST /dialplans/reload`: validate the dialplans folder and swap it in (the bearer token is checked first)."""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable, Protocol, Sequence

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from switchboard.http_auth import BearerToken


class ReloadOutcome(Protocol):
    """What a reload reports (ivr's `ReloadResult` satisfies it)."""

    @property
    def ok(self) -> bool: ...

    @property
    def version(self) -> str: ...

    @property
    def changed(self) -> bool: ...

    @property
    def problems(self) -> Sequence[object]: ...


Reload = Callable[[str], Awaitable[ReloadOutcome]]
"""Reloads the dialplans; the argument names who asked (here always "http")."""


class ReloadResource(Resource):
    """POST: validate the dialplans folder and swap it in; 200 with the version, or 422 with every error."""

    isLeaf = True

    def __init__(self, reload: Reload, auth: BearerToken) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # twisted.web: Resource.__init__ is unannotated
        self._reload = reload
        self._auth = auth

    def render_POST(self, request: Request) -> object:  # noqa: N802
        if not self._auth.allows(request):
            request.setResponseCode(401)
            return b'{"error": "missing or wrong bearer token"}\n'

        def done(result: ReloadOutcome) -> None:
            request.setResponseCode(200 if result.ok else 422)
            request.setHeader("Content-Type", "application/json")
            body = {"ok": result.ok, "version": result.version, "changed": result.changed,
                    "problems": [str(p) for p in result.problems]}
            request.write(json.dumps(body).encode() + b"\n")
            request.finish()
        def failed(failure: Failure) -> None:  # reload() answers every edit; this is the last guard
            request.setResponseCode(500)
            request.setHeader("Content-Type", "application/json")
            message = f"reload failed: {failure.type.__name__ if failure.type else 'error'}"
            request.write(json.dumps({"ok": False, "problems": [message]}).encode() + b"\n")
            request.finish()
        Deferred.fromFuture(asyncio.ensure_future(self._reload("http"))).addCallbacks(done, failed)
        return NOT_DONE_YET

    def render_GET(self, request: Request) -> bytes:  # noqa: N802
        request.setResponseCode(405)
        return b'{"error": "use POST"}\n'
