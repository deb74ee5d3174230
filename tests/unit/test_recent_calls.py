"""Unit tests of RecentCalls: this process's call records and opening customers, bounded by count and age."""
from __future__ import annotations

from switchboard.cti.call_context import CallContext
from switchboard.cti.customer import Customer
from switchboard.cti.recent_calls import RecentCalls

ADA = Customer("c1", "Ada", "vip", "en", recent_contacts=({"at": 1},))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_last_record_written_is_the_one_returned() -> None:
    """A call noted twice returns its newer record; a call without a customer needs no customer."""
    recent = RecentCalls()
    recent.note_record(CallContext("1.1", path=("main.welcome",)))
    recent.note_record(CallContext("1.1", path=("main.welcome", "main.menu")))
    assert recent.get("1.1") == (CallContext("1.1", path=("main.welcome", "main.menu")), None)
    assert recent.get("9.9") is None


def test_the_opening_customer_is_built_once_and_only_for_its_own_id() -> None:
    """The customer is built when first asked for, once; a record naming another customer (identified later in the
    IVR) or a call with a customer but no record is not known here (read Redis)."""
    recent = RecentCalls()
    built: list[int] = []

    def ada() -> Customer:
        built.append(1)
        return ADA
    recent.note_customer("1.1", "c1", ada)
    assert recent.get("1.1") is None and built == []  # no record yet
    recent.note_record(CallContext("1.1", customer_id="c1"))
    assert built == []
    assert recent.get("1.1") == (CallContext("1.1", customer_id="c1"), ADA)
    assert recent.get("1.1") == (CallContext("1.1", customer_id="c1"), ADA)
    assert built == [1]
    recent.note_record(CallContext("1.1", customer_id="c2"))
    assert recent.get("1.1") is None


def test_bounded_by_count_least_recently_noted_first() -> None:
    """Past max_calls the call noted longest ago goes; noting a call again keeps it."""
    recent = RecentCalls(max_calls=3)
    for uid in ("1", "2", "3"):
        recent.note_record(CallContext(uid))
    recent.note_record(CallContext("1"))  # written again: now the newest
    recent.note_record(CallContext("4"))
    assert len(recent) == 3
    assert recent.get("2") is None
    assert [uid for uid in ("1", "3", "4") if recent.get(uid) is not None] == ["1", "3", "4"]


def test_bounded_by_age_since_the_last_write() -> None:
    """A call not written for max_age seconds is forgotten (asked for, or when later calls are noted)."""
    clock = Clock()
    recent = RecentCalls(max_age=60, clock=clock)
    recent.note_record(CallContext("old"))
    recent.note_record(CallContext("kept"))
    clock.now += 40
    recent.note_record(CallContext("kept"))  # a write pushes its age back
    clock.now += 30
    assert recent.get("old") is None
    assert recent.get("kept") is not None
    recent.note_record(CallContext("new"))
    clock.now += 31
    recent.note_record(CallContext("newer"))
    assert len(recent) == 2 and recent.get("kept") is None
