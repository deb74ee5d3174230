"""Unit tests of caller recognition: hit, miss, anonymous, ambiguous, timeout and store errors."""
from __future__ import annotations

import asyncio
import logging

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import StoreUnavailable
from switchboard.cti.customer import Customer
from switchboard.cti.recognition import CallerRecognizer

ADA = Customer(id="c1", name="Ada", segment="vip", phones=("+442079460001",))
GRACE = Customer(id="c2", name="Grace", segment="gold", phones=("+442079460009",))


class FakeLookup:
    """Customers by number; `hang` makes lookups never answer, `fail` makes them raise."""

    def __init__(self, hang: bool = False, fail: bool = False) -> None:
        self.hang = hang
        self.fail = fail
        self.table = {"+442079460001": [ADA], "+442079460009": [ADA, GRACE]}
        self.never = asyncio.Event()
        self.opened: list[CallContext] = []

    async def find_by_phone(self, e164: str) -> list[Customer]:
        if self.fail:
            raise StoreUnavailable("ConnectionError")
        if self.hang:
            await self.never.wait()  # never set: the lookup hangs until the budget cancels it
        return self.table.get(e164, [])

    async def open_call(self, e164: str | None, ctx: CallContext) -> list[Customer]:
        self.opened.append(ctx)
        return [] if e164 is None else await self.find_by_phone(e164)


def _normalise(raw: str | None, name: str | None) -> str | None:
    return raw if raw and raw.startswith("+") else None


def _recognizer(lookup: FakeLookup, seen: list[str]) -> CallerRecognizer:
    return CallerRecognizer(lookup, _normalise, "standard", 0.05, logging.getLogger("test"),
                            on_result=lambda result, seconds: seen.append(result))


async def test_known_number_is_a_hit_with_ani_confidence() -> None:
    """A number on one customer attaches that customer, its segment and ANI confidence."""
    seen: list[str] = []
    r = await _recognizer(FakeLookup(), seen).recognise("+442079460001")
    assert (r.result, r.confidence, r.segment) == ("hit", "ani", "vip")
    assert r.customer == ADA and seen == ["hit"]


async def test_unknown_withheld_and_shared_numbers() -> None:
    """Unknown numbers miss, withheld ones are anonymous, shared ones are ambiguous: all default segment."""
    seen: list[str] = []
    recognizer = _recognizer(FakeLookup(), seen)
    miss = await recognizer.recognise("+442079460404")
    anonymous = await recognizer.recognise("anonymous")
    ambiguous = await recognizer.recognise("+442079460009")
    assert [r.result for r in (miss, anonymous, ambiguous)] == ["miss", "anonymous", "ambiguous"]
    assert all(r.customer is None and r.segment == "standard" and r.confidence == "none"
               for r in (miss, anonymous, ambiguous))
    assert seen == ["miss", "anonymous", "ambiguous"]


async def test_a_crm_slower_than_the_budget_is_given_up() -> None:
    """A number the store does not know goes to the CRM; a CRM that never answers is given up at the budget and the
    call goes on as unknown (the store itself is bounded by the Redis client's socket and pool timeouts)."""
    never = asyncio.Event()

    async def hanging_crm(number: str) -> Customer | None:
        await never.wait()  # never set: only the budget ends this
        return None
    recognizer = CallerRecognizer(FakeLookup(), _normalise, "standard", 0.05, logging.getLogger("test"),
                                  crm=hanging_crm)
    r = await recognizer.recognise("+442079460404")
    assert r.result == "timeout" and r.customer is None and r.segment == "standard"


async def test_a_failing_number_library_goes_on_as_unknown() -> None:
    """Normalisation is inside the guard: a number library that raises (e.g. out of file descriptors while it loads
    its data) leaves the caller unknown, never fails the call."""
    def broken(raw: str | None, name: str | None) -> str | None:
        raise OSError(24, "Too many open files")
    r = await CallerRecognizer(FakeLookup(), broken, "standard", 0.05, logging.getLogger("test")).recognise("+4420")
    assert r.result == "error" and r.customer is None and r.segment == "standard"


async def test_store_error_goes_on_as_unknown() -> None:
    """Redis trouble is counted as error and never raised to the call."""
    r = await _recognizer(FakeLookup(fail=True), []).recognise("+442079460001")
    assert r.result == "error" and r.customer is None


async def test_the_opening_record_goes_with_the_lookup() -> None:
    """With the call's opening record, recognition hands it to the store with the lookup (anonymous callers too)."""
    seen: list[str] = []
    lookup = FakeLookup()
    recognizer = _recognizer(lookup, seen)
    known = await recognizer.recognise("+442079460001", opening=CallContext("1.1"))
    withheld = await recognizer.recognise(None, opening=CallContext("1.2"))
    assert (known.result, withheld.result) == ("hit", "anonymous")
    assert [c.uniqueid for c in lookup.opened] == ["1.1", "1.2"] and seen == ["hit", "anonymous"]
