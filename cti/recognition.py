"""Recognising the caller at the start of every call: caller ID → E.164 → customer, always in bounded time.

The answer always comes in time: the customer store is bounded by the Redis client's own socket and pool timeouts
(`redis.timeout`, `redis.pool_timeout`: a burst of calls waits for a connection instead of failing, and time spent
queued on a busy event loop is not mistaken for a slow store), and the optional CRM by `budget`. On timeout or
trouble the call goes on as an unknown caller with the default segment (and the reason is counted). A number shared by several customers is ambiguous: no customer is
attached and the flow is expected to identify the caller. Confidence is `none`, `ani` (matched on the number) or
`verified` (raised later by identify & verify nodes).

Given the call's opening context record, the look-up and the record's first write go to Redis together (one round
trip at the start of every call, `CustomerLookup.open_call`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import StoreUnavailable
from switchboard.cti.customer import Customer

RESULTS = ("hit", "miss", "anonymous", "ambiguous", "timeout", "error")


class CustomerLookup(Protocol):
    async def find_by_phone(self, e164: str) -> list[Customer]: ...

    async def open_call(self, e164: str | None, ctx: CallContext) -> list[Customer]: ...


@dataclass(frozen=True)
class Recognition:
    """Who the caller is, how sure we are, and how the lookup went."""

    result: str                    # one of RESULTS
    confidence: str                # none, ani, verified
    customer: Customer | None
    number: str | None             # E.164, or None for withheld/unknown/invalid
    segment: str
    seconds: float = 0.0


class CallerRecognizer:
    """Looks a caller up by number in the customer store (and, when the store does not know it, a CRM within
    `budget` seconds)."""

    def __init__(self, store: CustomerLookup, normalise: Callable[[str | None, str | None], str | None],
                 default_segment: str, budget: float, logger: logging.Logger,
                 on_result: Callable[[str, float], None] = lambda result, seconds: None,
                 crm: Callable[[str], Awaitable[Customer | None]] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self._store = store
        self._normalise = normalise
        self._default_segment = default_segment
        self._budget = budget
        self._log = logger
        self._on_result = on_result
        self._crm = crm
        self._clock = clock or time.monotonic

    async def recognise(self, caller_id: str | None, caller_name: str | None = None,
                        opening: CallContext | None = None) -> Recognition:
        """Who is calling; with `opening`, the call's first context record is written in the same round trip."""
        started = self._clock()
        number: str | None = None
        try:
            number = self._normalise(caller_id, caller_name)  # inside: even a failing number library is survivable
            if number is None:
                if opening is not None:
                    await self._open_anonymous(opening)
                return self._done("anonymous", None, None, started)
            found = await self._lookup(number, opening)
        except TimeoutError:
            return self._done("timeout", None, number, started)
        except Exception as exc:  # the store, the CRM or the number library: never the caller's problem
            self._log.warning("caller lookup failed (%s); going on as unknown", type(exc).__name__)
            return self._done("error", None, number, started)
        if len(found) > 1:
            return self._done("ambiguous", None, number, started)
        return self._done("hit" if found else "miss", found[0] if found else None, number, started)

    async def _open_anonymous(self, opening: CallContext) -> None:
        try:
            await self._store.open_call(None, opening)
        except (StoreUnavailable, OSError, ConnectionError) as exc:
            self._log.warning("call %s: context not recorded (%s)", opening.uniqueid, type(exc).__name__)

    async def _lookup(self, number: str, opening: CallContext | None) -> list[Customer]:
        if opening is None:
            found = await self._store.find_by_phone(number)
        else:
            found = await self._store.open_call(number, opening)
        if not found and self._crm is not None:
            async with asyncio.timeout(self._budget):  # no task per call (wait_for would make one)
                customer = await self._crm(number)
            found = [customer] if customer is not None else []
        return found

    def _done(self, result: str, customer: Customer | None, number: str | None, started: float) -> Recognition:
        seconds = self._clock() - started
        self._on_result(result, seconds)
        return Recognition(result=result, confidence="ani" if customer else "none", customer=customer,
                           number=number, segment=customer.segment if customer else self._default_segment,
                           seconds=seconds)
