"""The pub/sub channel feed on a real redis-server: every message published after the subscription is confirmed, in
order, also several arriving in one read; the end of the connection is an error the router's listener retries on,
and the connection goes back to the pool."""
from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from switchboard.redislane.channel_feed import channel_messages
from tests.e2e.sandbox import RedisServer


async def test_every_message_after_the_subscription_arrives_in_order(redis: Redis) -> None:
    """Messages published one by one and many in one pipeline (one read carries several) all arrive, in order."""
    subscribed = asyncio.Event()
    feed = channel_messages(redis, "sb:test:feed", subscribed.set)
    first = asyncio.ensure_future(feed.__anext__())
    async with asyncio.timeout(10):  # a deadline, not a measurement
        await subscribed.wait()
        await redis.publish("sb:test:feed", "c1 a1")
        assert await first == b"c1 a1"
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.publish("sb:test:feed", f"c{i} a{i}")
            await pipe.execute()
        assert [await feed.__anext__() for _ in range(50)] == [f"c{i} a{i}".encode() for i in range(50)]
    await feed.aclose()


async def test_a_dropped_connection_ends_the_feed_with_a_connection_error(redis_server: RedisServer) -> None:
    """Redis closing the subscriber's connection raises RedisConnectionError (the listener backs off and subscribes
    again); the pool gets the connection back."""
    client = Redis.from_url(redis_server.url)
    subscribed = asyncio.Event()
    feed = channel_messages(client, "sb:test:drop", subscribed.set)
    waiting = asyncio.ensure_future(feed.__anext__())
    try:
        async with asyncio.timeout(10):
            await subscribed.wait()
            await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            with pytest.raises(RedisConnectionError):
                await waiting
        assert client.connection_pool._in_use_connections == set()  # type: ignore[attr-defined]
    finally:
        await client.aclose()
