"""The call-path Redis round trip: several commands in one write on one connection of the shared pool, under one
deadline. Both store modules (cti.cti_store, router.route_store) run their call-path trips through a `TripLane`; each
keeps Redis's keys and scripts to itself, this module owns only how a trip travels."""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence, cast

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

Command = tuple[str | bytes | memoryview | int | float, ...]
KEEP_SHARE = 8  # a store keeps at most 1/KEEP_SHARE of the shared pool's connections between its trips
_pack = cast(Callable[[Command], bytes], hiredis.pack_command)


class TripLane:
    """A call-path round trip on one connection of the client's pool, without the client's per-command machinery.

    Commands are packed by hiredis's C packer into one write; the replies are read in order by the connection's
    parser (hiredis's when installed). One `asyncio.timeout` (the pool's socket timeout) bounds the whole trip, and
    the connection's own socket timeout is off meanwhile (no timer per read, no task per write). Between trips the
    lane keeps up to 1/KEEP_SHARE of the pool's connections (skipping the pool's lock and liveness probe); the rest go
    back to the pool. A trip that fails or runs out of time closes its connection before handing it back, so no
    connection with replies still unread is ever used again. A kept connection found dead (Redis restarted) is
    replaced once by a fresh one from the pool."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._pool = client.connection_pool
        timeout = self._pool.connection_kwargs.get("socket_timeout")
        self._timeout: float | None = float(timeout) if timeout else None
        self._keep = max(1, self._pool.max_connections // KEEP_SHARE)
        self._idle: list[AbstractConnection] = []

    @property
    def kept(self) -> int:
        """Connections held between trips."""
        return len(self._idle)

    async def run(self, commands: Sequence[Command]) -> list[Any]:
        """The commands' replies in order; an error reply is its ResponseError (not raised). Raises RedisError or
        TimeoutError (an OSError) when the trip as a whole fails."""
        packed = b"".join([_pack(command) for command in commands])
        while self._idle:
            try:
                return await self._on(self._idle.pop(), packed, len(commands))
            except RedisConnectionError:
                continue  # kept while Redis went away: try the next (or a fresh one)
        return await self._on(await self._pool.get_connection(), packed, len(commands))

    async def _on(self, connection: AbstractConnection, packed: bytes, count: int) -> list[Any]:
        clean = False
        try:
            async with asyncio.timeout(self._timeout):
                connection.socket_timeout = None
                await connection.send_packed_command(packed, check_health=False)
                replies: list[Any] = []
                for _ in range(count):
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # read in full: the connection stays in step
                        replies.append(exc)
            clean = True
            return replies
        finally:
            connection.socket_timeout = self._timeout
            await self._hand_back(connection, clean)

    async def _hand_back(self, connection: AbstractConnection, clean: bool) -> None:
        if clean and len(self._idle) < self._keep:
            self._idle.append(connection)
            return
        if not clean:
            await connection.disconnect(nowait=True)
        await self._pool.release(connection)

    async def close(self) -> None:
        """Hands the kept connections back to the pool."""
        while self._idle:
            await self._pool.release(self._idle.pop())
