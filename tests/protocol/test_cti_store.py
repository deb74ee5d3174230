"""The CTI store's call-context records, a call's start and end writes, histories and screen-pop outlet against a
real redis-server."""
from __future__ import annotations

import dataclasses

from redis.asyncio import Redis

from switchboard.cti.call_context import MAX_RECORDED_PATH, CallContext
from switchboard.cti.cti_store import CALL_TTL_SECONDS, SCREEN_POP_CHANNEL, CtiStore, HistoryEntry, call_key
from switchboard.cti.customer import MAX_RECENT, Customer, CustomerRecord
from switchboard.cti.repeat_contacts import ContactEntry

FULL = CallContext(uniqueid="1700000000.42", state="ended", flow="support", dialplan_version="v7", caller="+441632960123",
                   dnid="2000", started_at=1700000000.123456, recognition="hit", customer_id="c-1", segment="vip",
                   confidence="verified", last_node="support.billing_agents",
                   path=("support.top", "support.billing_menu", "support.billing_agents"),
                   intents=("billing", "refund"), language="en", queue="billing", agent="agent1", outcome="routed",
                   destination="agent:agent1")


async def test_every_field_round_trips(redis: Redis) -> None:
    """A record saved with every field set reads back equal, and expires a day after the write."""
    store = CtiStore(redis)
    await store.save_call(FULL)
    assert await store.read_call(FULL.uniqueid) == FULL
    assert 0 < await redis.ttl(call_key(FULL.uniqueid)) <= CALL_TTL_SECONDS


async def test_defaults_and_unknown_call(redis: Redis) -> None:
    """Optional fields left unset read back as None; a call never written reads as None."""
    store = CtiStore(redis)
    bare = CallContext("1.1", caller="+441632960999")
    await store.save_call(bare)
    assert await store.read_call("1.1") == bare
    assert await store.read_call("9.9") is None


async def test_save_replaces_the_whole_record(redis: Redis) -> None:
    """Saving again replaces every field: a field cleared in the new record is cleared in Redis."""
    store = CtiStore(redis)
    await store.save_call(FULL)
    cleared = dataclasses.replace(FULL, queue=None, agent=None, intents=(), state="ivr")
    await store.save_call(cleared)
    assert await store.read_call(FULL.uniqueid) == cleared


async def test_path_is_bounded_to_the_newest_entries(redis: Redis) -> None:
    """A looping flow's path is kept to its newest MAX_RECORDED_PATH nodes."""
    store = CtiStore(redis)
    long = tuple(f"loop.n{i}" for i in range(MAX_RECORDED_PATH + 50))
    await store.save_call(CallContext("2.2", path=long))
    read = await store.read_call("2.2")
    assert read is not None and read.path == long[-MAX_RECORDED_PATH:] and len(read.path) == MAX_RECORDED_PATH


async def test_unicode_and_separator_characters_survive(redis: Redis) -> None:
    """Non-ASCII text and characters that were separators in the old string form (" > ", ",") round-trip."""
    store = CtiStore(redis)
    ctx = CallContext("3.3", flow="accueil-é", caller="Zoë 📞", segment="ünïcode", path=("menü > ñ", "日本語"),
                      intents=("a,b", "çà"), customer_id="客户-1", destination="PJSIP/agent-ø")
    await store.save_call(ctx)
    assert await store.read_call("3.3") == ctx


async def test_screen_pops_are_published_on_the_channel(redis: Redis) -> None:
    """publish_screen_pop puts the payload on the screen-pop channel integrations subscribe to."""
    store = CtiStore(redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe(SCREEN_POP_CHANNEL)
    assert await store.publish_screen_pop('{"event": "ringing"}') == 1
    message = None
    for _ in range(3):  # the subscribe confirmation may come first
        message = message or await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
    assert message is not None
    assert message["channel"] == SCREEN_POP_CHANNEL.encode() and message["data"] == b'{"event": "ringing"}'
    await pubsub.aclose()


async def test_history_appends_keep_json_lists_and_the_newest_entries(redis: Redis) -> None:
    """The history script appends without re-encoding (empty lists stay lists), keeps MAX_RECENT, skips unknowns."""
    store = CtiStore(redis)
    await store.write([CustomerRecord(Customer(id="c1", name="Ada", segment="gold"))])
    for i in range(MAX_RECENT + 3):
        await store.add_contact("c1", {"at": i, "intents": [], "note": 'a "quoted", [bracketed] {text}'},
                                "self_service")
    await store.add_contact("nobody", {"at": 1}, "self_service")
    ada = await store.get("c1")
    assert ada is not None and [e["at"] for e in ada.self_service] == list(range(3, MAX_RECENT + 3))
    assert all(e["intents"] == [] and e["note"] == 'a "quoted", [bracketed] {text}' for e in ada.self_service)
    assert await store.get("nobody") is None


async def test_open_and_close_call_each_write_in_one_go(redis: Redis) -> None:
    """open_call finds the caller and writes the first record; close_call writes the last record, the history
    entry and the FCR contact, and reports the earlier contact a repeat repeats."""
    store = CtiStore(redis)
    await store.write([CustomerRecord(Customer(id="c1", name="Ada", segment="gold", phones=("+442079460001",)))])
    found = await store.open_call("+442079460001", CallContext("5.1", flow="main"))
    assert [c.id for c in found] == ["c1"] and (await store.read_call("5.1")) == CallContext("5.1", flow="main")
    assert await store.open_call(None, CallContext("5.2")) == [] and await store.read_call("5.2") is not None
    first = ContactEntry("k1", "5.1", 1000.0, 3600.0, False, "billing", "vip", "gold", "main")
    assert await store.close_call(CallContext("5.1", state="ended"), HistoryEntry("c1", {"at": 1}), first) is None
    again = ContactEntry("k1", "5.3", 1100.0, 3600.0, False, "billing", "billing", "gold", "main")
    assert await store.close_call(CallContext("5.3", state="ended"), None, again) == ("vip", "gold", "main")
    ada = await store.get("c1")
    assert ada is not None and ada.self_service == ({"at": 1},)
    ended = await store.read_call("5.1")
    assert ended is not None and ended.state == "ended"
