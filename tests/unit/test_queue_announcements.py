"""Announcements to callers in line (ivr.queue_announcements) and their timing in the wait loop (ivr.queue_wait)."""
from __future__ import annotations

import asyncio
from typing import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.ivr.call_ports import QuietQueue
from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_simulator import SimulatedLine, simulate
from switchboard.ivr.queue_announcements import (AnnouncePlan, Heard, Play, SayNumber, heard, phrases,
                                                  worth_saying)
from switchboard.ivr.queue_wait import wait_and_connect
from switchboard.ivr.virtual_clock import VirtualClock


def test_schedule_from_first_after_then_every() -> None:
    """Announcements fall due at first_after, then every `every` seconds; every=0 means once."""
    plan = AnnouncePlan(first_after=30, every=60)
    assert [plan.due_at(n) for n in range(3)] == [30, 90, 150]
    once = AnnouncePlan(every=0)
    assert once.due_at(0) == 0 and once.due_at(1) is None


def test_only_changed_and_only_improved() -> None:
    """`changed` skips a repeat; `improved` speaks only a better place or wait; the first is always spoken."""
    changed, improved = AnnouncePlan(estimate=True, only="changed"), AnnouncePlan(estimate=True, only="improved")
    first, same, worse, better = Heard(3, 4), Heard(3, 4), Heard(3, 5), Heard(2, 4)
    assert worth_saying(changed, first, None) and not worth_saying(changed, same, first)
    assert worth_saying(changed, worse, first)
    assert worth_saying(improved, first, None) and not worth_saying(improved, worse, first)
    assert worth_saying(improved, better, first)
    assert worth_saying(AnnouncePlan(), same, first)  # always


def test_words_for_place_and_wait() -> None:
    """Position 1 is 'you are next'; others 'there are N calls waiting'; minutes rounded up, under one 'less than'."""
    plan = AnnouncePlan(position=True, estimate=True)
    assert phrases(heard(plan, 3, 125.0)) == [Play("queue-thereare"), SayNumber(3), Play("queue-callswaiting"),
                                             Play("queue-holdtime"), SayNumber(3), Play("queue-minutes")]
    assert phrases(heard(plan, 1, 20.0)) == [Play("queue-youarenext"), Play("queue-holdtime"),
                                            Play("queue-less-than"), SayNumber(1), Play("queue-minute")]
    assert phrases(heard(plan, 2, None)) == [Play("queue-thereare"), SayNumber(2), Play("queue-callswaiting")]


@dataclass
class Estimate:
    position: int
    seconds: float | None


@dataclass
class LineTicket:
    """A ticket answered at `answer_at` on the virtual clock, whose estimates follow a script by time."""

    clock: VirtualClock
    answer_at: float
    script: list[tuple[float, Estimate]]  # (from time, estimate)
    ring_timeout: float = 15.0
    wrap_up: float = 0.0
    answered: bool = False
    asked: list[float] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.answered

    async def wait(self) -> Estimate | None:
        await self.clock.sleep(self.answer_at - self.clock.time())
        self.answered = True
        return Offer("a1", "PJSIP/a1")  # type: ignore[return-value]

    async def estimate(self) -> Estimate | None:
        self.asked.append(self.clock.time())
        return [e for t, e in self.script if t <= self.clock.time()][-1]

    async def hold(self, agent: str) -> None:
        return None

    async def not_answered(self, agent: str) -> None:
        return None

    async def finished(self, agent: str) -> None:
        return None

    async def leave(self) -> None:
        return None

    async def unreachable(self) -> str:
        await asyncio.get_running_loop().create_future()
        return ""


@dataclass
class Offer:
    agent: str
    endpoint: str


@dataclass
class Desk:
    ticket: LineTicket

    async def request(self, uid: str, **_: object) -> LineTicket:
        return self.ticket


@dataclass
class HeardChannel:
    """A channel that stamps what the caller hears with the virtual time."""

    clock: VirtualClock
    heard: list[tuple[float, str]] = field(default_factory=list)

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self.heard.append((self.clock.time(), application))
        if application == "Dial":
            self.clock.now += 30  # the agent talks for ANSWEREDTIME
        return 0

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self.heard.append((self.clock.time(), prompt))
        return None

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        self.heard.append((self.clock.time(), str(number)))
        return None

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        return tuple({"DIALSTATUS": "ANSWER", "ANSWEREDTIME": "30"}.get(name) for name in names)

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        return ()

    def until_hangup(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()


class Accuracy(QuietQueue):
    """Keeps the estimates at entry and their errors."""

    def __init__(self) -> None:
        self.entry: list[float | None] = []
        self.errors: list[float] = []

    def estimated(self, queue: str, seconds: float | None) -> None:
        self.entry.append(seconds)

    def estimate_error(self, queue: str, error_seconds: float) -> None:
        self.errors.append(error_seconds)


async def _wait(plan: AnnouncePlan, script: list[tuple[float, Estimate]], answer_at: float,
                seen: Accuracy | None = None) -> list[tuple[float, str]]:
    clock = VirtualClock()
    channel = HeardChannel(clock)
    ticket = LineTicket(clock, answer_at, script)
    await clock.drive(wait_and_connect(channel, Desk(ticket), "u1", skills={"billing": 1}, language="",
                                       segment="gold", customer="", priority=0, relaxation=None, queue="billing",
                                       observer=seen or Accuracy(), clock=clock.time, announce=plan,
                                       sleep=clock.sleep))
    return channel.heard


async def test_announced_on_entry_then_every_minute_with_music_around() -> None:
    """On entry (before the music), then at 60 s and 120 s (music stopped and restarted), none after the answer."""
    heard_ = await _wait(AnnouncePlan(every=60), [(0, Estimate(3, None)), (50, Estimate(2, None)),
                                                  (110, Estimate(1, None))], answer_at=150)
    spoken = [(t, w) for t, w in heard_ if w.startswith("queue-") or w.isdigit()]
    assert spoken == [(0, "queue-thereare"), (0, "3"), (0, "queue-callswaiting"),
                      (60, "queue-thereare"), (60, "2"), (60, "queue-callswaiting"),
                      (120, "queue-youarenext")]
    assert heard_[3] == (0, "StartMusicOnHold")
    assert heard_[4] == (60, "StopMusicOnHold") and heard_[8] == (60, "StartMusicOnHold")
    assert heard_[-1] == (150, "Dial")


async def test_only_changed_skips_a_repeat_and_first_after_delays_the_first() -> None:
    """With first_after 30 and only: changed, the unchanged place at 90 s is not repeated; 150 s says the new one."""
    heard_ = await _wait(AnnouncePlan(first_after=30, every=60, only="changed"),
                         [(0, Estimate(4, None)), (140, Estimate(2, None))], answer_at=200)
    numbers = [(t, w) for t, w in heard_ if w.isdigit()]
    assert numbers == [(30, "4"), (150, "2")]
    assert heard_[0] == (0, "StartMusicOnHold")


async def test_estimate_at_entry_and_its_error_reach_the_observer() -> None:
    """The estimate at entry is observed, and on answer the actual wait minus it (150 - 120 = 30 s)."""
    seen = Accuracy()
    await _wait(AnnouncePlan(position=False, estimate=True, every=0),
                [(0, Estimate(2, 120.0))], answer_at=150, seen=seen)
    assert seen.entry == [120.0] and seen.errors == [30.0]


def test_simulate_shows_the_announcements(tmp_path: Path) -> None:
    """`simulate` of a route node with announce prints what the caller hears at which simulated second."""
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    (tmp_path / "main.yaml").write_text(
        "flows:\n  main:\n    start: queue\n    nodes:\n"
        "      queue: {type: route, skills: {billing: 3}, overflow: bye,\n"
        "              announce: {position: true, every: 60, only: improved}}\n"
        "      bye: {type: hangup}\n")
    plan, problems = load_dialplan(tmp_path)
    assert not problems
    result = simulate(plan, "main", line=SimulatedLine(position=4, answer_after=200))
    assert result.announcements == ("0s: queue-thereare 4 queue-callswaiting",
                                    "60s: queue-thereare 3 queue-callswaiting",
                                    "120s: queue-thereare 2 queue-callswaiting",
                                    "180s: queue-youarenext")
    assert result.outcome == "routed" and "announced:   0s:" in result.report()


class BrokenEstimates(LineTicket):
    """A ticket whose router cannot estimate (its store fails)."""

    async def estimate(self) -> Estimate | None:
        raise ConnectionError("redis away")


async def test_a_failing_estimate_never_breaks_the_call() -> None:
    """When the router cannot estimate, the caller hears no figures, the entry estimate is unknown, and the call
    is still answered."""
    clock = VirtualClock()
    channel = HeardChannel(clock)
    seen = Accuracy()
    result = await clock.drive(wait_and_connect(
        channel, Desk(BrokenEstimates(clock, 70, [])), "u1", skills={"billing": 1}, language="", segment="gold",
        customer="", priority=0, relaxation=None, queue="billing", observer=seen, clock=clock.time,
        announce=AnnouncePlan(every=30), sleep=clock.sleep))
    assert result.result == "answered"
    assert seen.entry == [None] and seen.errors == []
    assert [w for _, w in channel.heard] == ["StartMusicOnHold", "StopMusicOnHold", "Dial"]


async def test_hang_up_between_announcements_stops_them() -> None:
    """A caller who hangs up while waiting gets no further announcement and the ticket is left."""
    from switchboard.ivr.channel import CallerHungUp
    clock = VirtualClock()
    channel = HeardChannel(clock)
    ticket = LineTicket(clock, 500, [(0, Estimate(2, None))])
    left: list[bool] = []

    async def leave() -> None:
        left.append(True)
    ticket.leave = leave  # type: ignore[method-assign]

    async def caller_hangs_up_at_45() -> None:
        await clock.sleep(45)
        gone.set_result(None)
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    channel.until_hangup = lambda: gone  # type: ignore[method-assign]
    hanger = asyncio.ensure_future(caller_hangs_up_at_45())
    try:
        await clock.drive(wait_and_connect(
            channel, Desk(ticket), "u1", skills={"billing": 1}, language="", segment="gold", customer="",
            priority=0, relaxation=None, queue="billing", observer=Accuracy(), clock=clock.time,
            announce=AnnouncePlan(every=20), sleep=clock.sleep))
    except CallerHungUp:
        pass
    else:
        raise AssertionError("the hang-up was not noticed")
    await hanger
    assert sorted({t for t, w in channel.heard if w.isdigit()}) == [0, 20, 40]
    assert left == [True]
