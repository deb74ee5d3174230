"""The call records this process wrote lately, kept in memory so a screen pop for one of its own calls reads nothing.

Every call-context record the CTI store writes for this process (the opening record, the journal's writes, the
before-connect record that rides the offer, the final record) is noted here, the newest replacing the older, with
the customer the call's opening look-up found (decoded only when a pop asks for it). A screen pop for such a call
takes both from here instead of reading Redis; a call of another instance, one noted too long ago, or one whose
record now names another customer (identified later in the IVR) is read from Redis as before.

Bounded by count (`max_calls`: the least recently noted go first) and by age (`max_age` seconds since a call was
last noted; looked for at most once a second as calls are noted, and on every read). The record is the one this
process sent; the customer is the one found as the call started.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from switchboard.cti.call_context import CallContext
from switchboard.cti.customer import Customer

MAX_CALLS = 10_000  # calls remembered (about 1–2 KB each): the calls in progress of a busy instance
MAX_AGE = 900.0  # seconds since a call's last write after which it is read from Redis again
AGE_CHECK_EVERY = 1.0  # seconds between looks for calls past MAX_AGE when calls are noted


@dataclass
class _Entry:
    noted: float
    record: CallContext | None = None
    customer_id: str = ""
    customer: Callable[[], Customer] | None = None


class RecentCalls:
    """uniqueid → the last record written and the customer found at the call's start, bounded by count and age."""

    def __init__(self, max_calls: int = MAX_CALLS, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_calls = max(1, max_calls)
        self._max_age = max_age
        self._clock = clock
        self._calls: OrderedDict[str, _Entry] = OrderedDict()
        self._next_age_check = float("-inf")

    def __len__(self) -> int:
        return len(self._calls)

    def note_record(self, record: CallContext) -> None:
        """The record just written for this call (it replaces the one noted before)."""
        self._entry(record.uniqueid).record = record

    def note_customer(self, uniqueid: str, customer_id: str, customer: Callable[[], Customer]) -> None:
        """The customer the call's opening look-up found; `customer` builds it (called once, when a pop needs it)."""
        entry = self._entry(uniqueid)
        entry.customer_id = customer_id
        built: list[Customer] = []

        def once() -> Customer:
            if not built:
                built.append(customer())
            return built[0]
        entry.customer = once

    def get(self, uniqueid: str) -> tuple[CallContext, Customer | None] | None:
        """The call's record and customer when this process knows both, else None (read Redis)."""
        entry = self._calls.get(uniqueid)
        if entry is None or entry.record is None:
            return None
        if self._clock() - entry.noted > self._max_age:
            del self._calls[uniqueid]
            return None
        wanted = entry.record.customer_id
        if not wanted:
            return entry.record, None
        if entry.customer is None or entry.customer_id != wanted:
            return None
        return entry.record, entry.customer()

    def _entry(self, uniqueid: str) -> _Entry:
        now = self._clock()
        entry = self._calls.get(uniqueid)
        if entry is None:
            entry = self._calls[uniqueid] = _Entry(now)
        else:
            entry.noted = now
            self._calls.move_to_end(uniqueid)
        calls = self._calls
        while len(calls) > self._max_calls:
            calls.popitem(last=False)
        if now >= self._next_age_check:  # the oldest by age: looked for at most once a second (`get` checks too)
            self._next_age_check = now + AGE_CHECK_EVERY
            while calls and now - next(iter(calls.values())).noted > self._max_age:
                calls.popitem(last=False)
        return entry
