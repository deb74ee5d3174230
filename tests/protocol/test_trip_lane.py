"""The stores' call-path trip lane on the wire: a trip that runs out of time discards its connection (the next trip
never reads the late reply), connections kept between trips stay within 1/4 of the pool, and a Redis restart
between calls gives each call its recorded outcome instead of a hang."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import hiredis
import pytest
from redis.asyncio import Redis

from switchboard.cti.cti_store import CtiStore, StoreUnavailable
from switchboard.cti.customer import CustomerRecord
from switchboard.router.route_store import RouteStore
from switchboard.service import shared_redis
from switchboard.settings import RedisSettings
from tests.e2e.sandbox import RedisServer
from tests.protocol.test_call_cost import VIP, always_open, caller, wire


@dataclass
class FakeRedis:
    """Answers HMGET with the key it was asked (each field's value is the key) and EVALSHA with the script's first
    argument; PING and HELLO as Redis would; holds back the reply to any command naming `stall` until `release` is set; +OK to anything else."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    port: int = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    words = [w.decode() for w in command]
                    if "stall" in " ".join(words):
                        self.stalled.set()
                        await self.release.wait()
                    writer.write(self._reply(words))
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            writer.close()

    @staticmethod
    def _reply(words: list[str]) -> bytes:
        verb = words[0].upper()
        if verb == "HMGET":
            key = words[1].encode()
            return f"*{len(words) - 2}\r\n".encode() + b"".join(b"$%d\r\n%s\r\n" % (len(key), key)
                                                                 for _ in words[2:])
        if verb == "EVALSHA":
            value = words[3 + int(words[2])].encode()
            return b"$%d\r\n%s\r\n" % (len(value), value)
        if verb == "PING":
            return b"+PONG\r\n"
        if verb == "HELLO":
            return b"%1\r\n+proto\r\n:3\r\n"
        return b"+OK\r\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeRedis]:
    server = FakeRedis()
    listening = await server.start()
    yield server
    server.release.set()
    listening.close()


def client_of(port: int, max_connections: int = 8, timeout: float = 0.2) -> Redis:
    return shared_redis(RedisSettings(url=f"redis://127.0.0.1:{port}/0", timeout=timeout, max_connections=max_connections,
                                      pool_timeout=5.0))


async def test_a_router_trip_that_times_out_discards_its_connection(fake: FakeRedis) -> None:
    """A read whose reply comes after the timeout fails, its connection is closed, not kept; the next trip gets its
    own reply, never the late one."""
    client = client_of(fake.port)
    store = RouteStore(client)
    try:
        assert await store.call_state("one") == ("sb:{sb}:call:one", "sb:{sb}:call:one")
        assert store._lane.kept == 1
        with pytest.raises(TimeoutError):
            await store.call_state("stall")
        assert store._lane.kept == 0
        fake.release.set()  # the late reply goes out, to a connection the client already closed
        async with asyncio.timeout(10):
            await fake.closed.wait()  # the server saw the connection go
        assert await store.call_state("two") == ("sb:{sb}:call:two", "sb:{sb}:call:two")
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def test_a_cti_trip_that_times_out_is_store_unavailable_and_discarded(fake: FakeRedis) -> None:
    """The same for cti: the timeout surfaces as StoreUnavailable and the late reply is never read."""
    client = client_of(fake.port)
    store = CtiStore(client)
    try:
        replies = await store._lane.run([("EVALSHA", "x", 0, "first")])
        assert replies == [b"first"]
        with pytest.raises(StoreUnavailable):
            await store._bounded(store._lane.run([("EVALSHA", "x", 0, "stall")]))
        assert store._lane.kept == 0
        fake.release.set()
        assert await store._lane.run([("EVALSHA", "x", 0, "second")]) == [b"second"]
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def test_one_stalled_trip_times_out_while_the_others_in_flight_finish(fake: FakeRedis) -> None:
    """The lane's one deadline timer serves every trip in flight: the stalled trip fails with TimeoutError, the trips
    started with it get their own replies, and the lane goes on serving after."""
    client = client_of(fake.port, max_connections=16, timeout=0.3)
    store = RouteStore(client)
    try:
        results = await asyncio.gather(store.call_state("stall"), *(store.call_state(f"c{i}") for i in range(5)),
                                       return_exceptions=True)
        assert isinstance(results[0], TimeoutError)
        assert results[1:] == [(f"sb:{{sb}}:call:c{i}", f"sb:{{sb}}:call:c{i}") for i in range(5)]
        fake.release.set()
        assert await store.call_state("after") == ("sb:{sb}:call:after", "sb:{sb}:call:after")
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def test_a_trip_cancelled_from_outside_is_cancelled_not_timed_out(fake: FakeRedis) -> None:
    """A caller that goes away (its task cancelled) mid-trip sees CancelledError, never the lane's TimeoutError, and
    the connection with the reply still owed is not kept."""
    client = client_of(fake.port, timeout=10.0)
    store = RouteStore(client)
    try:
        trip = asyncio.ensure_future(store.call_state("stall"))
        await fake.stalled.wait()
        trip.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trip
        assert store._lane.kept == 0
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def test_a_kept_connection_reset_meanwhile_is_replaced(fake: FakeRedis) -> None:
    """A kept connection whose socket was reset between trips (its transport closing) is not written to (uvloop
    refuses that with RuntimeError): the trip goes on a fresh connection from the pool (a new socket)."""
    client = client_of(fake.port)
    store = RouteStore(client)
    try:
        assert await store.call_state("one") == ("sb:{sb}:call:one", "sb:{sb}:call:one")
        reset = store._lane._idle[0]._writer
        assert reset is not None
        reset.transport.abort()
        assert await store.call_state("two") == ("sb:{sb}:call:two", "sb:{sb}:call:two")
        assert store._lane.kept == 1 and store._lane._idle[0]._writer is not reset  # a new socket
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def test_a_store_keeps_at_most_a_quarter_of_the_pool(fake: FakeRedis) -> None:
    """Many trips at once use many connections; between trips the store keeps 1/4 of the pool, the rest go back."""
    client = client_of(fake.port, max_connections=32, timeout=10.0)  # not a timeout test: a loaded machine is slow
    store = RouteStore(client)
    try:
        results = await asyncio.gather(*(store.call_state(f"c{i}") for i in range(32)))
        assert results == [(f"sb:{{sb}}:call:c{i}", f"sb:{{sb}}:call:c{i}") for i in range(32)]
        assert fake.connections > 8
        assert store._lane.kept == 8
    finally:
        await store.close()
        await client.aclose(close_connection_pool=True)


async def rewrite_directory(server: RedisServer) -> None:
    """The VIP written by a client of the test's own (not the service's shared one)."""
    tool = CtiStore.from_url(server.url, 5.0)
    try:
        await tool.write([CustomerRecord(VIP)])
    finally:
        await tool.close()


async def test_calls_across_a_redis_restart_get_their_recorded_outcome(tmp_path: Path) -> None:
    """A call while Redis is down goes on as an unrecognised caller ("error" recorded, the agent still dialled);
    after Redis restarts on the same port (again with no call in between), the lane's kept connections (dead) are
    replaced and the next call is recognised and its record written."""
    server = RedisServer(tmp_path / "redis").start()
    client = shared_redis(RedisSettings(url=server.url, timeout=1.0, max_connections=8, pool_timeout=5.0))
    try:
        wired = wire(client, always_open(tmp_path / "dialplans"), budget=2.0, with_router=False)
        await wired.store.write([CustomerRecord(VIP)])
        first = caller("1700000005.1", "+442079460501", ["-"])
        await wired.calls(first)  # type: ignore[arg-type]
        assert wired.results == ["hit"] and wired.store._lane.kept > 0
        server.stop()
        down = caller("1700000005.2", "+442079460501", ["-"])
        async with asyncio.timeout(30):  # a deadline, not a measurement: a hang fails here
            await wired.calls(down)  # type: ignore[arg-type]
        assert wired.results[-1] == "error"
        assert any(e.startswith("Dial(") for e in down.events)
        server.start()
        await rewrite_directory(server)  # (no persistence: the directory is written again)
        back = caller("1700000005.3", "+442079460501", ["-"])
        async with asyncio.timeout(30):
            await wired.calls(back)  # type: ignore[arg-type]
        assert wired.results[-1] == "hit"
        record = await wired.store.read_call("1700000005.3")
        assert record is not None and record.recognition == "hit"
        assert wired.store._lane.kept > 0
        server.stop()  # a restart with no call in between: every kept connection is dead
        server.start()
        await rewrite_directory(server)
        again = caller("1700000005.4", "+442079460501", ["-"])
        async with asyncio.timeout(30):
            await wired.calls(again)  # type: ignore[arg-type]
        assert wired.results[-1] == "hit"
        tool = CtiStore.from_url(server.url, 5.0)
        try:
            assert await tool.read_call("1700000005.4") is not None
        finally:
            await tool.close()
    finally:
        await client.aclose(close_connection_pool=True)
        server.stop()

