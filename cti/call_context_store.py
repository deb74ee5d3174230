"""The call context record in Redis: what is known about one call, keyed by its Asterisk uniqueid.

Each call's record is a Redis hash `switchboard:call:{<uniqueid>}` (the braces keep it cluster-safe) that grows as
the call moves through the IVR; it expires a day after its last change. Every operation has a time budget: a slow
or absent Redis never holds a caller up — the caller goes on and the failure is reported to the caller of this
module. Customers live in `cti.customer_store`; both raise this module's StoreUnavailable.
"""
from __future__ import annotations

import asyncio
from typing import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

RECORD_TTL_SECONDS = 24 * 3600


class StoreUnavailable(Exception):
    """Redis did not answer within the budget or refused the operation."""


def call_key(uniqueid: str) -> str:
    return f"switchboard:call:{{{uniqueid}}}"


class CallContextStore:
    """Reads and writes call context records within a time budget per operation."""

    def __init__(self, client: aioredis.Redis, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    @classmethod
    def from_url(cls, url: str, timeout: float) -> "CallContextStore":
        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                         decode_responses=True, health_check_interval=30)
        return cls(client, timeout)

    async def _bounded(self, coro):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.wait_for(coro, self._timeout)
        except (asyncio.TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def record(self, uniqueid: str, fields: Mapping[str, str]) -> None:
        """Add or replace fields of the call's record and push its expiry back."""
        key = call_key(uniqueid)
        async def write() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=dict(fields))
                pipe.expire(key, RECORD_TTL_SECONDS)
                await pipe.execute()
        await self._bounded(write())

    async def read(self, uniqueid: str) -> dict[str, str]:
        """The call's record (empty when unknown)."""
        return await self._bounded(self._client.hgetall(call_key(uniqueid)))

    async def ping(self) -> bool:
        """True when Redis answers within the budget."""
        try:
            return bool(await self._bounded(self._client.ping()))
        except StoreUnavailable:
            return False

    async def close(self) -> None:
        await self._client.aclose()
