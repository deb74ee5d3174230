"""The one bearer-token check of the HTTP side, used by every endpoint that changes state or shows customer data.

When a token is configured (mandatory when HTTP is exposed beyond loopback) a request must carry
`Authorization: Bearer <token>`; the token is compared in constant time and never logged. With no token configured
every request is allowed (loopback only, enforced by the settings).
"""
from __future__ import annotations

import hmac

from twisted.web.server import Request


class BearerToken:
    """The configured token; `allows(request)` is the only place a request's credentials are checked."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def __repr__(self) -> str:
        return f"BearerToken({'set' if self._token else 'unset'})"

    def allows(self, request: Request) -> bool:
        """True when no token is configured or the request's `Authorization: Bearer` value matches it."""
        if not self._token:
            return True
        given = (request.getHeader("authorization") or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self._token)
