"""Fixtures shared by the protocol tier: a private redis-server per test module, and a flushed client on it."""
from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.e2e.sandbox import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()
