"""Screen pops' reads against a real redis-server: batched as one read each; none for this process's own calls."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Sequence

import pytest
from redis.asyncio import Redis

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import CtiStore
from switchboard.cti.customer import Customer, CustomerRecord
from switchboard.cti.recent_calls import RecentCalls
from switchboard.cti.screen_pop import AgentStreams, ScreenPops
from tests.e2e.sandbox import RedisServer

ADA = Customer("c1", "Ada", "vip", "en", "A1", ("+441632960123",), open_cases=({"id": "K-1"},))


@pytest.mark.parametrize("protocol", [3, 2])
async def test_batched_read_matches_single_reads(redis: Redis, redis_server: RedisServer, protocol: int) -> None:
    """Several calls (one unknown, one naming a missing customer, two sharing one) read back as read_call/get do,
    whether the client speaks RESP3 (redis-py's default: hashes come as maps) or RESP2 (flat arrays)."""
    client = Redis.from_url(redis_server.url, protocol=protocol)  # (`redis` emptied the database)
    store = CtiStore(client)
    await store.write([CustomerRecord(ADA)])
    calls = [CallContext("1.1", customer_id="c1", segment="vip", path=("main.menu",), intents=("billing",)),
             CallContext("1.2", customer_id="gone"), CallContext("1.3", customer_id="c1")]
    for call in calls:
        await store.save_call(call)
    uids = ["1.1", "9.9", "1.2", "1.3"]
    got = await store.read_calls_with_customers(uids)
    expected = []
    for uid in uids:
        record = await store.read_call(uid)
        customer = await store.get(record.customer_id) if record is not None and record.customer_id else None
        expected.append((record, customer))
    assert got == expected
    assert got[0] == (calls[0], ADA) and got[1] == (None, None) and got[2] == (calls[1], None)
    assert await store.read_calls_with_customers([]) == []
    await store.close()
    await client.aclose()


class CountingStore(CtiStore):
    """The CTI store, counting the reads screen pops make of it."""

    reads = 0

    async def read_call(self, uniqueid: str) -> CallContext | None:
        self.reads += 1
        return await super().read_call(uniqueid)

    async def get(self, customer_id: str) -> Customer | None:
        self.reads += 1
        return await super().get(customer_id)

    async def read_calls_with_customers(self, uniqueids: Sequence[str]
                                        ) -> list[tuple[CallContext | None, Customer | None]]:
        self.reads += 1
        return await super().read_calls_with_customers(uniqueids)


async def _pops_of(store: CtiStore, recent: RecentCalls | None, uid: str) -> list[dict[str, Any]]:
    """The ringing and answered payloads of call `uid` at agent1, through a ScreenPops wired as the service's."""
    streams = AgentStreams()
    stream = streams.subscribe("agent1")

    async def nowhere(payload: str) -> int:
        return 0
    pops = ScreenPops(store, store, streams, nowhere, None, logging.getLogger("test"), clock=lambda: 2000.0,
                      reader=store, recent=recent)
    pops.start(asyncio.get_running_loop())
    pops.on_ami_event("DialBegin", {"Uniqueid": uid, "DestChannel": "PJSIP/agent1-00000001"})
    pops.on_ami_event("DialEnd", {"Uniqueid": uid, "DestChannel": "PJSIP/agent1-00000001", "DialStatus": "ANSWER"})
    payloads = [(await asyncio.wait_for(stream.get(), 5)).payload for _ in range(2)]
    await pops.stop()
    return payloads


async def test_pops_of_this_process_calls_read_nothing_and_match_redis(redis: Redis) -> None:
    """A call this process opened and recorded pops with no Redis read, the same payloads as read from Redis (the
    customer with its recent contacts); a call another instance recorded is still read."""
    ada = Customer("c1", "Ada", "vip", "en", "A1", ("+441632960123",), open_cases=({"id": "K-1"},),
                   recent_contacts=({"at": 1}, {"at": 2}))
    recent = RecentCalls()
    ours, theirs = CountingStore(redis, recent=recent), CountingStore(redis)
    await ours.write([CustomerRecord(ada)])
    found = await ours.open_call("+441632960123", CallContext("1.1", started_at=1990.0))
    assert [c.id for c in found] == ["c1"] and found[0].recent_contacts == ()  # the call path decodes no history
    await ours.save_call(CallContext("1.1", customer_id="c1", segment="vip", confidence="ani", started_at=1990.0,
                                     path=("main.welcome", "main.menu"), intents=("billing",)))
    await theirs.save_call(CallContext("2.2", customer_id="c1", segment="vip", started_at=1995.0))
    mine = await _pops_of(ours, recent, "1.1")
    assert ours.reads == 0
    assert mine == await _pops_of(theirs, None, "1.1")  # what a read of Redis gives
    assert mine[0]["customer"]["recent_contacts"] == [{"at": 1}, {"at": 2}]
    other = await _pops_of(ours, recent, "2.2")
    assert ours.reads == 1 and other[0]["customer"]["id"] == "c1"
