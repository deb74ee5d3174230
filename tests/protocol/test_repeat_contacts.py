"""First-contact resolution bookkeeping (cti.repeat_contacts) against a real redis-server."""
from __future__ import annotations

from redis.asyncio import Redis

from switchboard.cti.cti_store import CtiStore
from switchboard.cti.repeat_contacts import FirstContact, RepeatContacts

DAY = 86400.0


async def _call(contacts: RepeatContacts, key: str, uid: str, at: float, queue: str = "billing",
                intent: str = "billing") -> FirstContact | None:
    return await contacts.record(key, uid, at, queue=queue, segment="gold", flow="main", intent=intent)


async def test_repeat_within_window_counts_against_the_first_contact(redis: Redis) -> None:
    """A second call within 7 days returns the first call's labels; a third call about it counts no more."""
    contacts = RepeatContacts(CtiStore(redis), window_days=7)
    key = RepeatContacts.caller_key("cust-1", None)
    assert await _call(contacts, key, "u1", 1000.0, queue="billing") is None
    assert await _call(contacts, key, "u2", 1000.0 + 2 * DAY, queue="support") == FirstContact("billing", "gold",
                                                                                                "main")
    # u1 is already counted unresolved; u3 repeats u2 (the contact that did not resolve it either)
    assert await _call(contacts, key, "u3", 1000.0 + 3 * DAY) == FirstContact("support", "gold", "main")


async def test_outside_the_window_is_a_new_first_contact(redis: Redis) -> None:
    """A call 8 days after the last one is not a repeat."""
    contacts = RepeatContacts(CtiStore(redis), window_days=7)
    key = RepeatContacts.caller_key(None, "+442079460777")
    await _call(contacts, key, "u1", 0.0)
    assert await _call(contacts, key, "u2", 8 * DAY) is None


async def test_same_intent_option_and_keys_hide_identity(redis: Redis) -> None:
    """With same_intent only a call for the same reason repeats; Redis keys never contain the number."""
    contacts = RepeatContacts(CtiStore(redis), window_days=7, same_intent=True)
    key = RepeatContacts.caller_key(None, "+442079460778")
    await _call(contacts, key, "u1", 0.0, intent="billing")
    assert await _call(contacts, key, "u2", DAY, intent="sales") is None
    assert await _call(contacts, key, "u3", 2 * DAY, intent="billing") == FirstContact("billing", "gold", "main")
    assert not [k for k in await redis.keys("*") if b"2079460778" in k]
    assert RepeatContacts.caller_key(None, None) is None


async def test_recording_twice_is_idempotent(redis: Redis) -> None:
    """Recording the same uniqueid twice (a retry) adds one contact."""
    contacts = RepeatContacts(CtiStore(redis), window_days=7)
    key = RepeatContacts.caller_key("cust-2", None)
    await _call(contacts, key, "u1", 0.0)
    await _call(contacts, key, "u1", 0.0)
    assert await redis.zcard(f"sb:fcr:{{{key}}}:contacts") == 1
