"""Screen pops' batched read against a real redis-server: the same records and customers as one read each."""
from __future__ import annotations

from redis.asyncio import Redis

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import CtiStore
from switchboard.cti.customer import Customer, CustomerRecord

ADA = Customer("c1", "Ada", "vip", "en", "A1", ("+441632960123",), open_cases=({"id": "K-1"},))


async def test_batched_read_matches_single_reads(redis: Redis) -> None:
    """Several calls (one unknown, one naming a missing customer, two sharing one) read back as read_call/get do."""
    store = CtiStore(redis)
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
