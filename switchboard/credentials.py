"""Sign-in credentials of agents and supervisors: issued once, stored only as a salted scrypt hash.

`issue()` makes a random secret to hand to the person (printed once by `switchboard agents credential ID` or
`switchboard supervisor credential NAME`); `hash_secret` is what the store keeps (`scrypt$n$r$p$salt$hash`, base64
parts); `verify` checks a sign-in attempt in constant time. Hashing costs tens of milliseconds on purpose, so the
HTTP side runs `verify` off the event loop.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

N, R, P = 2 ** 14, 8, 1
MAX_SECRET = 256


def issue() -> str:
    """A new secret (about 130 bits, URL-safe, easy to paste)."""
    return secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify(secret: str, stored: str) -> bool:
    """True when `secret` is the one `stored` was made from; False for any malformed or empty input."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not secret or len(secret) > MAX_SECRET:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
        if n > 2 ** 17 or r > 16 or p > 4:
            return False
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)
