"""A Redis pub/sub channel read straight off one connection of the shared pool: every message's data, parsed by a
hiredis reader fed from the connection's stream (every message one read brought, without redis-py's PubSub machinery
per message: its retry wrapper, response parsing layers, health-check look-ups and message dicts). The router's
offer notices use it (one message per reservation any instance makes)."""
from __future__ import annotations

from typing import AsyncIterator, Callable, cast

import hiredis
import redis.asyncio as aioredis
from redis._parsers import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

READ_SIZE = 65536
_pack = cast(Callable[[tuple[str, ...]], bytes], hiredis.pack_command)
_MORE = object()  # hiredis: the bytes read so far end mid-message


async def channel_messages(client: aioredis.Redis, channel: str,
                           subscribed: Callable[[], None] = lambda: None) -> AsyncIterator[bytes]:
    """The data of every message published on `channel` from the moment `subscribed` is called (once Redis confirmed
    the subscription), until the connection drops: then RedisConnectionError (an error reply is raised as such). The
    connection is one of the pool's (as redis-py's PubSub takes one), closed and handed back when the iteration ends.
    Like redis-py's PubSub with no read timeout, a silent channel waits as long as it stays silent."""
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        writer, stream = connection._writer, connection._reader
        if writer is None or stream is None:
            raise RedisConnectionError("not connected")
        parser = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error,
                                notEnoughData=_MORE)
        writer.write(_pack(("SUBSCRIBE", channel)))
        while True:
            reply = parser.gets()
            if reply is _MORE:
                data = await stream.read(READ_SIZE)
                if not data:
                    raise RedisConnectionError("Connection closed by server.")
                parser.feed(data)
            elif isinstance(reply, Exception):
                raise reply
            elif reply[0] == b"message":  # [message, channel, data]
                yield reply[2]
            elif reply[0] == b"subscribe":
                subscribed()
    except OSError as exc:
        raise RedisConnectionError(f"Error while reading {channel}: {exc.args}") from exc
    finally:
        await connection.disconnect(nowait=True)  # subscribed: no other use may have it
        await pool.release(connection)
