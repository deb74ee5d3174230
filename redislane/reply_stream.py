"""Redis replies parsed straight from a connection's stream: a hiredis reader with redis-py's exception classes for
error replies (returned as values, not raised), and the next reply read as the bytes come. The trip lane and the
channel feed read their replies this way, without redis-py's per-reply parsing layers."""
from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis._parsers import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

READ_SIZE = 65536  # bytes asked of the connection per read (a trip's replies are usually one read)
_MORE = object()  # hiredis: the bytes read so far end mid-reply


def reply_parser() -> hiredis.Reader:
    """A reply parser: redis-py's exception classes for error replies (as values)."""
    return hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error, notEnoughData=_MORE)


async def next_reply(parser: hiredis.Reader, stream: asyncio.StreamReader) -> Any:
    """The next reply `parser` holds, reading `stream` until it is whole. Raises RedisConnectionError when the stream
    ends first (OSError from the socket is the caller's to translate)."""
    reply = parser.gets()
    while reply is _MORE:
        data = await stream.read(READ_SIZE)
        if not data:
            raise RedisConnectionError("Connection closed by server.")
        parser.feed(data)
        reply = parser.gets()
    return reply
