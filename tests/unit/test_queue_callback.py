"""The caller's side of the in-queue callback: the route node's `callback` option, its checks, the conversation,
and the wait loop that offers it (on scripted channels, a scripted desk and the simulator)."""
from __future__ import annotations

import asyncio
from typing import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from switchboard.ivr.call_ports import QuietQueue
from switchboard.ivr.flow_loader import DialplanError, load_dialplan
from switchboard.ivr.flow_simulator import SimulatedLine, simulate
from switchboard.ivr.queue_callback import CallbackAsk, CallbackPlan, e164, next_time_of_day
from switchboard.ivr.queue_wait import CallbackOffer, wait_and_connect
from switchboard.ivr.virtual_clock import VirtualClock


def _folder(tmp_path: Path, callback: str) -> Path:
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    (tmp_path / "main.yaml").write_text(
        "flows:\n  main:\n    start: queue\n    nodes:\n"
        "      queue:\n        type: route\n        skills: {billing: 3}\n        overflow: bye\n"
        f"        callback: {callback}\n"
        "      bye: {type: hangup}\n")
    return tmp_path


def test_offer_time_from_offer_after_or_the_estimate_on_entry() -> None:
    """The offer comes at offer_after, or on entry when the entry estimate is over the threshold; never without
    a trigger that fires."""
    both = CallbackPlan(offer_after=60, or_when_estimate_over=300)
    assert both.due_at(None) == 60 and both.due_at(200) == 60 and both.due_at(301) == 0
    only_estimate = CallbackPlan(or_when_estimate_over=300)
    assert only_estimate.due_at(None) is None and only_estimate.due_at(100) is None
    assert only_estimate.due_at(400) == 0


def test_numbers_are_checked_and_made_e164() -> None:
    """Caller IDs and keyed numbers become E.164 when valid (national ones in the region); junk is refused."""
    assert e164("2125551234", "US") == "+12125551234"
    assert e164("+442079460000", "US") == "+442079460000"
    assert e164("020 7946 0000", "GB") == "+442079460000"
    for bad in ("", None, "anonymous", "123", "+1212555\n1234", "9" * 40):
        assert e164(bad, "US") is None


def test_scheduled_time_is_the_next_such_time_of_day() -> None:
    """HHMM names the next moment at that time: later today, else tomorrow; impossible times are refused."""
    now = datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)
    assert next_time_of_day("1400", now) == datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc)
    assert next_time_of_day("0900", now) == datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
    for bad in ("2400", "1260", "930", "abcd", ""):
        assert next_time_of_day(bad, now) is None


@pytest.mark.parametrize("callback, where, message", [
    ("{offer_after: 5000}", "9:20", "offer_after: expected seconds from 0 to 3600"),
    ("{offer_after: 60, key: \"#\"}", "9:37", "key: expected one key, 0-9 or *"),
    ("{offer_after: 60, order: random}", "9:37", "order: expected one of agent_first, customer_first"),
    ("{offer_after: 60, max_attempts: 0}", "9:37", "max_attempts: expected a whole number from 1 to 10"),
    ("{offer_after: 60, retry_after: 1}", "9:37", "retry_after: expected seconds from 10 to 86400"),
    ("{offer_after: 60, confirm: true}", "9:37", "unknown callback option 'confirm'"),
    ("{key: \"1\"}", "9:9", "callback is never offered"),
    ("{offer_after: 60, later_key: \"1\"}", "9:37", "later_key: must differ from key"),
    ("{offer_after: 60, timezone: Mars/Base}", "9:37", "timezone: expected an IANA time zone"),
    ("yes", "9:9", "expected a mapping"),
])
def test_bad_callback_options_are_reported_at_their_place(tmp_path: Path, callback: str, where: str,
                                                          message: str) -> None:
    """`switchboard validate` reports each bad callback option at its file:line:column with what is wrong."""
    with pytest.raises(DialplanError) as caught:
        load_dialplan(_folder(tmp_path, callback))
    text = str(caught.value)
    assert f"main.yaml:{where}: error: " in text and message in text, text


def test_callback_with_an_endpoint_is_refused(tmp_path: Path) -> None:
    """A callback needs the skills router, so a route node dialling a fixed endpoint cannot offer one."""
    folder = _folder(tmp_path, "{offer_after: 60}")
    text = (folder / "main.yaml").read_text().replace("overflow: bye\n", "overflow: bye\n        endpoint: PJSIP/a\n")
    (folder / "main.yaml").write_text(text)
    with pytest.raises(DialplanError, match="callback needs the skills router"):
        load_dialplan(folder)


def test_simulate_takes_a_callback_on_the_caller_id(tmp_path: Path) -> None:
    """In the simulator the caller presses 1 at 60 s, confirms the caller ID, hears thanks; outcome callback."""
    plan, _ = load_dialplan(_folder(tmp_path, "{offer_after: 60, key: \"1\", max_attempts: 2, order: customer_first}"))
    result = simulate(plan, "main", caller="2125551234", digits=["1", "1"])
    assert result.outcome == "callback" and result.destination == "callback:sim-callback-1"
    assert result.callback is not None and result.callback.number == "+12125551234"
    assert (result.callback.max_attempts, result.callback.order) == (2, "customer_first")
    assert result.announcements[-1].startswith("60s: vm-tocallback")
    assert result.announcements[-1].endswith("auth-thankyou goodbye")
    assert "callback:    +12125551234 (customer_first" in result.report()


def test_simulate_keys_a_number_when_the_caller_id_is_withheld(tmp_path: Path) -> None:
    """Without a usable caller ID the caller keys a number ending with # and confirms it."""
    plan, _ = load_dialplan(_folder(tmp_path, "{offer_after: 0}"))
    result = simulate(plan, "main", caller="anonymous", digits=["1", "02079460000#", "1"], region="GB")
    assert result.callback is not None and result.callback.number == "+442079460000"
    assert "vm-enter-num-to-call" in result.announcements[0] and "you-entered" in result.announcements[0]


def test_simulate_schedules_a_callback_after_a_time_of_day(tmp_path: Path) -> None:
    """With later_key the caller keys HHMM#: the request is not to be called before then, in the node's zone."""
    plan, _ = load_dialplan(_folder(tmp_path, "{offer_after: 30, later_key: \"2\", timezone: Europe/Paris}"))
    at = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
    result = simulate(plan, "main", caller="2125551234", at=at, digits=["2", "1400#", "1", "1"])
    assert result.callback is not None
    assert result.callback.not_before == datetime(2026, 12, 2, 13, 0, tzinfo=timezone.utc).timestamp()


def test_declining_the_offer_keeps_the_caller_in_line(tmp_path: Path) -> None:
    """A caller who presses nothing keeps waiting (music again) and reaches the agent; offered only once."""
    plan, _ = load_dialplan(_folder(tmp_path, "{offer_after: 20}"))
    result = simulate(plan, "main", caller="2125551234", digits=["-", "-"],
                      line=SimulatedLine(position=2, answer_after=100))
    assert result.outcome == "routed" and result.callback is None
    assert sum("vm-tocallback" in a for a in result.announcements) == 1
    assert result.events.count("[20s] StartMusicOnHold(default)") == 1


@dataclass
class Desk:
    """A callback desk that refuses (the call was no longer waiting) or takes requests."""

    accept: bool
    region: str = "US"
    asks: list[CallbackAsk] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)

    def offered(self, queue: str) -> None:
        self.offers.append(queue)

    async def take(self, ask: CallbackAsk) -> str | None:
        self.asks.append(ask)
        return "cb-1" if self.accept else None

    async def reached_agent(self, number: str) -> None:
        return None


@dataclass
class Line:
    """A ticket never offered an agent; counts leaves."""

    left: int = 0
    ring_timeout: float = 15.0
    wrap_up: float = 0.0
    ready: bool = False

    async def wait(self) -> None:
        await asyncio.get_running_loop().create_future()

    async def estimate(self) -> None:
        return None

    async def leave(self) -> None:
        self.left += 1

    async def unreachable(self) -> str:
        await asyncio.get_running_loop().create_future()
        return ""


@dataclass
class RouteDesk:
    ticket: Line

    async def request(self, uid: str, **_: object) -> Line:
        return self.ticket


@dataclass
class KeyChannel:
    """A channel whose caller presses 1 at each question and stamps what is heard."""

    clock: VirtualClock
    heard: list[tuple[float, str]] = field(default_factory=list)

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self.heard.append((self.clock.time(), application))
        return 0

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self.heard.append((self.clock.time(), prompt))
        return "1" if "1" in escape_digits else None

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return "1"

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        return tuple(None for _ in names)

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        return ()

    def until_hangup(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()


async def test_the_wait_loop_hands_the_call_to_the_desk_and_leaves_the_line() -> None:
    """At offer_after the music stops, the caller takes the callback, the desk gets the request with the call's
    uid (its place), and the node ends with result `callback` after leaving its own ticket."""
    clock = VirtualClock()
    channel, ticket, desk = KeyChannel(clock), Line(), Desk(accept=True)
    offer = CallbackOffer(CallbackPlan(offer_after=45, max_attempts=4), desk, "u7", "2125551234", "cust-1", "en")
    result = await clock.drive(wait_and_connect(
        channel, RouteDesk(ticket), "u7", skills={"billing": 1}, language="", segment="gold", customer="cust-1",
        priority=0, relaxation=None, queue="billing", observer=QuietQueue(), clock=clock.time, sleep=clock.sleep,
        callback=offer))
    assert result.result == "callback" and result.agent == "cb-1" and result.waited == 45
    assert desk.offers == ["billing"] and ticket.left == 1
    ask = desk.asks[0]
    assert (ask.uid, ask.number, ask.customer, ask.queue, ask.max_attempts) == ("u7", "+12125551234", "cust-1",
                                                                               "billing", 4)
    assert channel.heard[:3] == [(0, "StartMusicOnHold"), (45, "StopMusicOnHold"), (45, "vm-tocallback")]


async def test_a_request_the_desk_refuses_keeps_the_caller_waiting_with_music() -> None:
    """When the desk cannot take the request (an agent was just reserved), the caller is back on hold."""
    clock = VirtualClock()
    channel, ticket, desk = KeyChannel(clock), Line(), Desk(accept=False)
    offer = CallbackOffer(CallbackPlan(offer_after=10), desk, "u8", "2125551234", "", "en")
    task = asyncio.ensure_future(clock.drive(wait_and_connect(
        channel, RouteDesk(ticket), "u8", skills={"billing": 1}, language="", segment="gold", customer="",
        priority=0, relaxation=None, queue="billing", observer=QuietQueue(), clock=clock.time, sleep=clock.sleep,
        callback=offer)))
    while len(desk.asks) < 1 or channel.heard[-1][1] != "StartMusicOnHold":
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [w for _, w in channel.heard].count("StartMusicOnHold") == 2
    assert "auth-thankyou" not in [w for _, w in channel.heard]
