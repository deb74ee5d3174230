"""The caller's side of a route node (ivr.queue_wait) on a scripted channel and a scripted router."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Mapping

import pytest

from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.call_ports import QuietQueue
from switchboard.ivr.queue_wait import ReservationKeeper, RouteUnavailable, wait_and_connect


@dataclass
class Offer:
    agent: str
    endpoint: str


@dataclass
class ScriptedTicket:
    offers: list[Offer | None]
    ring_timeout: float = 15.0
    wrap_up: float = 0.0
    left: int = 0
    unanswered: list[str] = field(default_factory=list)
    finished_with: list[str] = field(default_factory=list)
    store_down: bool = False  # not_answered and finished raise, as a store trip that timed out does
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    router_gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        return self.gate.is_set()

    async def wait(self) -> Offer | None:
        await self.gate.wait()
        return self.offers.pop(0)

    async def hold(self, agent: str) -> None:
        return None

    async def not_answered(self, agent: str) -> None:
        if self.store_down:
            raise TimeoutError("Redis trip timed out")
        self.unanswered.append(agent)

    async def finished(self, agent: str) -> None:
        if self.store_down:
            raise TimeoutError("Redis trip timed out")
        self.finished_with.append(agent)

    async def leave(self) -> None:
        self.left += 1

    async def unreachable(self) -> str:
        await self.router_gone.wait()
        return "router-unreachable"


@dataclass
class ScriptedDesk:
    ticket: ScriptedTicket
    fail: bool = False

    async def request(self, uid: str, **_: object) -> ScriptedTicket:
        if self.fail:
            raise ConnectionError("redis down")
        return self.ticket


@dataclass
class ScriptedChannel:
    dial_status: list[str]
    gone: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    apps: list[str] = field(default_factory=list)
    status: str = ""
    on_hold: asyncio.Event = field(default_factory=asyncio.Event)
    variables: list[dict[str, str]] = field(default_factory=list)  # each set_variables call

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self.apps.append(application)
        if application == "StartMusicOnHold":
            self.on_hold.set()
        if application == "Dial":
            self.status = self.dial_status.pop(0)
        return 0

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        return tuple({"DIALSTATUS": self.status, "ANSWEREDTIME": "42"}.get(name) for name in names)

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        self.variables.append(dict(pairs))
        return ()

    def until_hangup(self) -> asyncio.Future[None]:
        return self.gone


class SeenInLine(QuietQueue):
    """A queue observer that keeps the answered and abandoned waits it is told about."""

    def __init__(self) -> None:
        self.answered_waits: list[tuple[str, str, float]] = []
        self.abandoned_waits: list[float] = []

    def answered(self, queue: str, segment: str, wait_seconds: float) -> None:
        self.answered_waits.append((queue, segment, wait_seconds))

    def abandoned(self, queue: str, segment: str, wait_seconds: float) -> None:
        self.abandoned_waits.append(wait_seconds)


def _run(channel: ScriptedChannel, desk: ScriptedDesk, seen: SeenInLine | None = None,
         variables: dict[str, str] | None = None):
    return wait_and_connect(channel, desk, "u1", skills={"billing": 1}, language="", segment="gold", customer="c",
                            priority=0, relaxation=None, queue="billing", observer=seen or SeenInLine(),
                            variables=variables)


async def test_an_agent_free_at_once_gets_the_nodes_variables_with_its_own() -> None:
    """Agent reserved on entry: skills and topic travel with SWITCHBOARD_AGENT, one batch; the next agent alone."""
    ticket = ScriptedTicket([Offer("a1", "PJSIP/a1"), Offer("a2", "PJSIP/a2")])
    ticket.gate.set()
    channel = ScriptedChannel(["NOANSWER", "ANSWER"])
    variables = {"topic": "billing", "SWITCHBOARD_SKILLS": "billing:1"}
    await _run(channel, ScriptedDesk(ticket), variables=variables)
    assert channel.variables == [{"topic": "billing", "SWITCHBOARD_SKILLS": "billing:1", "SWITCHBOARD_AGENT": "a1"},
                                 {"SWITCHBOARD_AGENT": "a2"}]
    assert variables == {}


async def test_a_caller_who_waits_has_the_nodes_variables_before_the_music() -> None:
    """No agent free: the variables are set as the caller starts waiting, so one who leaves the line has them."""
    ticket = ScriptedTicket([])
    channel = ScriptedChannel([])
    task = asyncio.ensure_future(_run(channel, ScriptedDesk(ticket), variables={"SWITCHBOARD_SKILLS": "billing:1"}))
    await channel.on_hold.wait()
    channel.gone.set_result(None)
    with pytest.raises(CallerHungUp):
        await task
    assert channel.variables == [{"SWITCHBOARD_SKILLS": "billing:1"}] and channel.apps == ["StartMusicOnHold"]


async def test_reserved_agent_is_rung_without_music_then_the_next_after_no_answer() -> None:
    """An agent ready at once is dialled with no hold music; after a no-answer the caller waits with music."""
    ticket = ScriptedTicket([Offer("a1", "PJSIP/a1"), Offer("a2", "PJSIP/a2")])
    ticket.gate.set()
    channel = ScriptedChannel(["NOANSWER", "ANSWER"])
    seen = SeenInLine()
    result = await _run(channel, ScriptedDesk(ticket), seen)
    answered = seen.answered_waits
    assert result.result == "answered" and result.agent == "a2" and result.attempts == 2
    assert channel.apps == ["Dial", "Dial"]  # gate still set: no music blip either time
    assert ticket.unanswered == ["a1"] and ticket.finished_with == ["a2"] and ticket.left == 1
    assert answered and answered[0][:2] == ("billing", "gold")


async def test_a_served_call_stays_answered_when_its_end_cannot_be_recorded() -> None:
    """A store failure after the agent answered keeps the call answered, names the error, and still leaves routing."""
    ticket = ScriptedTicket([Offer("a1", "PJSIP/a1")], store_down=True)
    ticket.gate.set()
    seen = SeenInLine()
    result = await _run(ScriptedChannel(["ANSWER"]), ScriptedDesk(ticket), seen)
    assert (result.result, result.agent, result.wrap_up_unrecorded) == ("answered", "a1", "TimeoutError")
    assert ticket.left == 1 and [w[:2] for w in seen.answered_waits] == [("billing", "gold")]


async def test_a_no_answer_the_router_cannot_record_sends_the_caller_to_the_fallback() -> None:
    """When the router cannot take back an unanswered offer, the caller (still on the line) goes to the fallback."""
    ticket = ScriptedTicket([Offer("a1", "PJSIP/a1")], store_down=True)
    ticket.gate.set()
    channel = ScriptedChannel(["NOANSWER"])
    with pytest.raises(RouteUnavailable, match="TimeoutError"):
        await _run(channel, ScriptedDesk(ticket))
    assert channel.apps == ["Dial"] and ticket.left == 1


async def test_hang_up_in_line_leaves_at_once_and_keeps_the_connection_future() -> None:
    """A caller hanging up while waiting ends the wait at once; the channel's own hang-up future is not cancelled."""
    ticket = ScriptedTicket([])
    channel = ScriptedChannel([])
    seen = SeenInLine()
    abandoned = seen.abandoned_waits
    task = asyncio.ensure_future(_run(channel, ScriptedDesk(ticket), seen))
    await channel.on_hold.wait()  # the caller is in line, hearing music
    channel.gone.set_result(None)
    with pytest.raises(CallerHungUp):
        await task
    assert channel.apps == ["StartMusicOnHold"] and ticket.left == 1 and len(abandoned) == 1
    assert not channel.gone.cancelled()


async def test_second_route_node_is_not_fooled_by_the_first_watcher() -> None:
    """After an overflow, a second route node in the same call waits normally (the first watcher left no trace)."""
    ticket = ScriptedTicket([None, Offer("a1", "PJSIP/a1")])
    ticket.gate.set()
    channel = ScriptedChannel(["ANSWER"])
    first = await _run(channel, ScriptedDesk(ticket))
    second = await _run(channel, ScriptedDesk(ticket))
    assert (first.result, second.result) == ("overflow", "answered")
    assert not channel.gone.done()


async def test_router_failure_becomes_route_unavailable() -> None:
    """When the router cannot take the call, the caller side says so (the engine then sends it to the fallback)."""
    with pytest.raises(RouteUnavailable):
        await _run(ScriptedChannel([]), ScriptedDesk(ScriptedTicket([]), fail=True))


async def test_router_giving_up_sends_the_caller_in_line_to_the_fallback() -> None:
    """A caller on hold whose router becomes unreachable past its deadline stops the music and goes to the fallback."""
    ticket = ScriptedTicket([])
    channel = ScriptedChannel([])
    task = asyncio.ensure_future(_run(channel, ScriptedDesk(ticket)))
    await channel.on_hold.wait()  # in line, hearing music; no offer will ever come
    ticket.router_gone.set()  # the router's heartbeat passed the deadline (a clock-free signal)
    with pytest.raises(RouteUnavailable, match="router-unreachable"):
        await task
    assert channel.apps == ["StartMusicOnHold", "StopMusicOnHold"] and ticket.left == 1
    assert not channel.gone.done()


async def test_a_call_cancelled_in_line_leaves_no_waiting_task_behind() -> None:
    """A call cancelled while it waits (the service stopping) leaves its ticket and no pending `wait()` task."""
    ticket = ScriptedTicket([])
    channel = ScriptedChannel([])
    task = asyncio.ensure_future(_run(channel, ScriptedDesk(ticket)))
    await channel.on_hold.wait()  # in line, hearing music, waiting for an offer that never comes
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)  # let cancelled tasks run their cancellation (one loop turn; no timing involved)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert ticket.left == 1 and pending == []


@dataclass
class HoldCounter:
    """A ticket that counts holds and says when the `wanted`-th arrived; its second hold may be made to hang."""

    wanted: int
    holds: list[str] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    hang: bool = False
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def hold(self, agent: str) -> None:
        self.holds.append(agent)
        if len(self.holds) >= self.wanted:
            self.reached.set()
        if self.hang and len(self.holds) == self.wanted:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


async def test_the_reservation_keeper_holds_every_period_until_stopped() -> None:
    """While the Dial runs the agent's reservation is held again every period, one hold after another; stopping the
    keeper cancels a hold still in flight and schedules no more."""
    ticket = HoldCounter(wanted=3, hang=True)
    keeper = ReservationKeeper(ticket, "a1", every=0.001)  # type: ignore[arg-type]
    async with asyncio.timeout(10):  # a deadline, not a measurement
        await ticket.reached.wait()
        keeper.stop()
        await ticket.cancelled.wait()
    assert ticket.holds == ["a1", "a1", "a1"]
