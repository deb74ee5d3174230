"""First-contact resolution by the repeat-contact method: every contact is recorded, and a repeat is detected.

A contact is keyed on who called: the CTI customer id when the caller was recognised or verified, else the
normalised caller ID (E.164); a withheld, unverified caller cannot be matched and is not counted. When the same
key contacts again within `window_days` (optionally only for the same intent), the earlier contact was not
resolved at first contact: it is marked repeated (once: three calls about one problem are one unresolved contact,
not two) and its own queue, segment and flow are returned, so the repeat is counted against the first contact.

The bookkeeping is one atomic step in the CTI store (`CtiStore.record_contact`, a Lua script; keys hold the
hashed caller key as a hash tag, never the raw number, and expire after the window).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


class ContactLedger(Protocol):
    """Where contacts are kept (cti.cti_store.CtiStore)."""

    async def record_contact(self, caller_key: str, uniqueid: str, at: float, window_seconds: float,
                             same_intent: bool, intent: str, queue: str, segment: str,
                             flow: str) -> tuple[str, str, str] | None: ...


@dataclass(frozen=True)
class ContactEntry:
    """One contact as the ledger records it: keyed on who called, with the window and the labels."""

    caller_key: str
    uniqueid: str
    at: float
    window_seconds: float
    same_intent: bool
    intent: str
    queue: str
    segment: str
    flow: str


@dataclass(frozen=True)
class FirstContact:
    """The labels of the contact a repeat counts against."""

    queue: str
    segment: str
    flow: str


class RepeatContacts:
    """Records contacts and tells which earlier contact a new one repeats."""

    def __init__(self, ledger: ContactLedger, window_days: float = 7.0, same_intent: bool = False) -> None:
        self._ledger = ledger
        self._window = window_days * 86400
        self._same_intent = same_intent

    @staticmethod
    def caller_key(customer_id: str | None, e164: str | None) -> str | None:
        """Who called, as a non-reversible key (no phone number or customer id ends up in Redis key names)."""
        raw = f"c:{customer_id}" if customer_id else (f"n:{e164}" if e164 else None)
        return hashlib.sha256(raw.encode()).hexdigest()[:32] if raw else None

    async def record(self, key: str, uniqueid: str, at: float, *, queue: str, segment: str, flow: str,
                     intent: str) -> FirstContact | None:
        """Adds this contact; returns the first contact it repeats (not yet counted as repeated), if any."""
        found = await self._ledger.record_contact(key, uniqueid, at, self._window, self._same_intent, intent,
                                                  queue, segment, flow)
        return FirstContact(*found) if found is not None else None

    def entry(self, *, customer_id: str | None, number: str | None, uniqueid: str, started: float, queue: str,
              segment: str, flow: str, intent: str) -> ContactEntry | None:
        """A finished call's contact as the ledger records it (for a store that records it with other writes);
        None when nobody can be matched."""
        key = self.caller_key(customer_id, number)
        if key is None:
            return None
        return ContactEntry(key, uniqueid, started, self._window, self._same_intent, intent, queue, segment, flow)

    async def record_contact(self, *, customer_id: str | None, number: str | None, uniqueid: str, started: float,
                             queue: str, segment: str, flow: str, intent: str) -> FirstContact | None:
        """A finished call's contact, keyed on who called; None when nobody can be matched or nothing repeats."""
        key = self.caller_key(customer_id, number)
        if key is None:
            return None
        return await self.record(key, uniqueid, started, queue=queue, segment=segment, flow=flow, intent=intent)
