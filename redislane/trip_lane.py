"""The call-path Redis round trip: several commands in one write on one connection of the shared pool, under one
deadline. Both store modules (cti.cti_store, router.route_store) run their call-path trips through a `TripLane`; each
keeps Redis's keys and scripts to itself, this module owns only how a trip travels."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Sequence, cast

import hiredis
import redis.asyncio as aioredis
from redis._parsers import BaseParser
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

Command = tuple[str | bytes | memoryview | int | float, ...]
KEEP_SHARE = 4  # a store keeps at most 1/KEEP_SHARE of the shared pool's connections between its trips
READ_SIZE = 65536  # bytes asked of the connection per read (a trip's replies are usually one read)
_pack = cast(Callable[[Command], bytes], hiredis.pack_command)
_MORE = object()  # hiredis: the replies read so far end mid-reply


class TripLane:
    """A call-path round trip on one connection of the client's pool, without the client's per-command machinery.

    Commands are packed by hiredis's C packer into one write; the replies are parsed by a hiredis reader fed straight
    from the connection's stream (one read usually carries every reply), error replies turned into redis-py's
    exception classes (returned as values; one that means the connection is unusable, such as LOADING, fails the
    trip). A clean trip leaves its reader empty, and the lane keeps it for a later trip. The pool's socket timeout
    bounds the whole trip (`Deadlines`: one timer for all the lane's trips); the connection's own socket timeout is
    never used (no timer per read, no task per write). Between trips the lane keeps up to 1/KEEP_SHARE of the pool's
    connections (skipping the pool's lock, timeout and liveness probe); the rest go back to the pool. A trip that
    fails or runs out of time closes its connection before handing it back (and drops its reader), so no connection
    with replies still unread is ever used again. A kept connection found dead (Redis restarted) is replaced once by
    a fresh one from the pool."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._pool = client.connection_pool
        timeout = self._pool.connection_kwargs.get("socket_timeout")
        self._timeout: float | None = float(timeout) if timeout else None
        self._keep = max(1, self._pool.max_connections // KEEP_SHARE)
        self._idle: list[AbstractConnection] = []
        self._deadlines = Deadlines(self._timeout) if self._timeout else None
        self._parsers: list[hiredis.Reader] = []  # reply parsers left empty by clean trips, used again

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
        trip = self._deadlines.start() if self._deadlines is not None else None
        parser = self._parsers.pop() if self._parsers else _parser()
        try:
            replies = await _exchange(connection, parser, packed, count)
            clean = True
            if len(self._parsers) < self._keep:  # (empty after a clean trip: the next trip may use it)
                self._parsers.append(parser)
            if trip is not None and connection.health_check_interval:  # (as redis-py's own reads do)
                connection.next_health_check = trip.started + connection.health_check_interval
            return replies
        except asyncio.CancelledError:
            if trip is not None and trip.expired and trip.task.uncancel() <= trip.cancelling:
                raise TimeoutError("Redis trip timed out") from None
            raise
        finally:
            if trip is not None:
                trip.done = True
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


def _parser() -> hiredis.Reader:
    """A reply parser: redis-py's exception classes for error replies (as values), `_MORE` for "read more"."""
    return hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error, notEnoughData=_MORE)


async def _exchange(connection: AbstractConnection, parser: hiredis.Reader, packed: bytes, count: int) -> list[Any]:
    """One write, then `count` replies parsed (by `parser`, empty) from the connection's stream. Raises
    RedisConnectionError when the connection breaks, or holds more than the replies asked (it is then out of step)."""
    if not connection.is_connected:
        await connection.connect()
    writer, stream = connection._writer, connection._reader
    assert writer is not None and stream is not None
    if writer.transport.is_closing():  # reset by the peer while kept (uvloop refuses a write to it: RuntimeError)
        raise RedisConnectionError("Connection closed by server.")
    replies: list[Any] = []
    try:
        writer.write(packed)
        if writer.transport.get_write_buffer_size():
            await writer.drain()  # (only when the socket did not take it all: Redis is slow to read)
        while len(replies) < count:
            reply = parser.gets()
            if reply is _MORE:
                data = await stream.read(READ_SIZE)
                if not data:
                    raise RedisConnectionError("Connection closed by server.")
                parser.feed(data)
            elif isinstance(reply, RedisConnectionError):
                raise reply  # an error reply that means the connection is unusable (LOADING...)
            else:
                replies.append(reply)
    except OSError as exc:  # (TimeoutError is the caller's deadline, raised by its own timeout: not here)
        raise RedisConnectionError(f"Error while talking to Redis: {exc.args}") from exc
    if parser.has_data():
        raise RedisConnectionError("more replies than commands")
    return replies


class Trip:
    """One trip in flight: its deadline (loop time) and task; `done` once it ended, `expired` when it ran out of time
    (its task was cancelled for that)."""

    __slots__ = ("started", "deadline", "task", "cancelling", "done", "expired")

    def __init__(self, started: float, deadline: float, task: asyncio.Task[Any]) -> None:
        self.started = started
        self.deadline = deadline
        self.task = task
        self.cancelling = task.cancelling()  # cancellations asked before the trip: not the deadline's
        self.done = False
        self.expired = False


class Deadlines:
    """The deadlines of a lane's trips with one timer for all: every trip has the same timeout, so trips expire in
    the order they started. The timer is armed for the oldest trip in flight and, when it fires, cancels the tasks
    of the trips past their deadline and moves on to the next one still in flight (trips that ended are dropped on
    the way). A trip costs a list entry, not a timer (and `asyncio.timeout`'s context, timer and look-ups of the
    running loop and task) of its own."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trips: deque[Trip] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> Trip:
        """A trip of the running task starts now."""
        loop = self._loop
        if loop is None or not loop.is_running():  # (first trip, or the lane moved to another loop: tests)
            loop = self._loop = asyncio.get_running_loop()
            self._trips.clear()
            self._timer = None
        task = asyncio.current_task(loop)
        assert task is not None
        now = loop.time()
        trip = Trip(now, now + self._timeout, task)
        self._trips.append(trip)
        if self._timer is None:
            self._timer = loop.call_at(trip.deadline, self._expire)
        return trip

    def _expire(self) -> None:
        loop, trips = self._loop, self._trips
        assert loop is not None
        self._timer = None
        now = loop.time()
        while trips and (trips[0].done or trips[0].deadline <= now):
            trip = trips.popleft()
            if not trip.done:
                trip.done = trip.expired = True
                trip.task.cancel()
        if trips:
            self._timer = loop.call_at(trips[0].deadline, self._expire)
