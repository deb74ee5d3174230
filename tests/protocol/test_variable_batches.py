"""Channel variables in batches, over loopback against a fake Asterisk that parses lines as Asterisk 22 does: MSet
sets exactly the values given (escaping), the combined DIALSTATUS/ANSWEREDTIME read, and the full example call still
leaving every variable the dialplan and agents' screens read, in fewer commands."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest

from switchboard.ivr.agi_codec import format_command
from switchboard.ivr.agi_server import AGIServer
from switchboard.ivr.call_ports import CallEnd, CallSnapshot, QuietFlow
from switchboard.ivr.call_script import CallPorts, InboundCalls
from switchboard.ivr.channel import Channel
from switchboard.ivr.flow_engine import EngineOptions, FlowEngine
from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.variable_batch import plan_writes
from tests.protocol.asterisk_arguments import agi_words, mset
from tests.protocol.fake_asterisk import WAIT, FakeAsterisk, RecordingEvents

REPO = Path(__file__).resolve().parents[2]
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # the example flow is open
HOSTILE = {"A": "a,b", "B": "x=y=z", "C": 'say "hi"', "D": "back\\slash", "E": "open(", "F": ")close",
           "G": "[bracket", "H": "a\\,b", "I": "end\\", "J": "Zoë, ça va?", "K": "", "L": " spaced out ",
           "CHANNEL(language)": "fr", "M": "a|b", "N": "(balanced, [both])"}


def what_asterisk_sets(pairs: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The variables Asterisk would hold after the commands `Channel.set_variables` sends, and those commands."""
    plan = plan_writes(pairs)
    held: dict[str, str] = {}
    lines: list[str] = []
    for batch in plan.batches:
        line = format_command("EXEC", "MSet", ",".join(batch)).decode().rstrip("\n")
        lines.append(line)
        words = agi_words(line)
        assert words[:2] == ["EXEC", "MSet"] and len(words) == 3
        held.update(mset(words[2]))
    for name, value in plan.singles:
        line = format_command("SET VARIABLE", name, value).decode().rstrip("\n")
        lines.append(line)
        words = agi_words(line)
        held[words[2]] = words[3] if len(words) > 3 else ""
    return held, lines


def test_hostile_values_arrive_exactly_in_one_mset() -> None:
    """Commas, equals, quotes, backslashes, brackets and unicode survive AGI quoting and MSet's parsing unchanged."""
    held, lines = what_asterisk_sets(HOSTILE)
    assert held == HOSTILE
    assert len(lines) == 1 and lines[0].startswith("EXEC MSet ")


def test_each_hostile_value_beside_a_plain_one() -> None:
    """Each awkward value on its own with a neighbour: neither bleeds into the other."""
    for name, value in HOSTILE.items():
        pairs = {name: value, "AFTER": "plain"}
        assert what_asterisk_sets(pairs)[0] == pairs, name


def test_dollar_values_go_by_set_variable_and_line_breaks_are_refused() -> None:
    """`$` (substituted in EXEC under AGIEXECFULL) is sent alone by SET VARIABLE; CR/LF/NUL are not sent at all."""
    pairs = {"A": "1", "B": "2", "COST": "${EVIL}", "BAD": "two\nlines", "NUL": "a\x00b"}
    plan = plan_writes(pairs)
    held, lines = what_asterisk_sets(pairs)
    assert held == {"A": "1", "B": "2", "COST": "${EVIL}"}
    assert plan.refused == ("BAD", "NUL")
    assert lines == ["EXEC MSet A=1,B=2", "SET VARIABLE COST ${EVIL}"]


def test_more_pairs_than_mset_takes_are_split() -> None:
    """250 pairs: three MSets of at most 98 pairs (MSet's 99th takes the rest raw), every one set."""
    pairs = {f"V{i}": f"value,{i}" for i in range(250)}
    held, lines = what_asterisk_sets(pairs)
    assert held == pairs and len(lines) == 3


# --- a Channel over the listener --------------------------------------------------------------------------------
Flow = Callable[[Channel], Awaitable[None]]


@dataclass
class Seen:
    """What the test flow got back."""

    values: asyncio.Queue[object] = field(default_factory=asyncio.Queue)

    async def get(self) -> object:
        return await asyncio.wait_for(self.values.get(), WAIT)


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def server(seen: Seen) -> AsyncIterator[AGIServer]:
    async def batch(channel: Channel) -> None:
        seen.values.put_nowait(await channel.set_variables({"SWITCHBOARD_SEGMENT": "gold", "topic": "a,b",
                                                            "BAD": "x\ry", "SWITCHBOARD_STATUS": "DONE"}))
        seen.values.put_nowait(await channel.get_variables("DIALSTATUS", "ANSWEREDTIME"))
        seen.values.put_nowait(await channel.get_variables("DIALSTATUS", "ANSWEREDTIME"))

    srv = AGIServer(asyncio.get_running_loop(), {"batch": batch}, allowed_peers=["127.0.0.1/32"],
                    header_timeout=1.0, command_timeout=1.0, events=RecordingEvents(),
                    logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop(1.0)


async def test_channel_sends_one_mset_and_one_combined_read(server: AGIServer, seen: Seen) -> None:
    """set_variables is one EXEC MSet (the CR value refused, STATUS remembered); get_variables one GET FULL VARIABLE,
    read again one by one when a value held the separator."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("batch")
    await peer.expect(r'EXEC MSet "SWITCHBOARD_SEGMENT=gold,topic=a\\,b,SWITCHBOARD_STATUS=DONE"', "200 result=0")
    assert await seen.get() == ("BAD",)
    await peer.expect("GET FULL VARIABLE ${DIALSTATUS}|${ANSWEREDTIME}", "200 result=1 (ANSWER|42)")
    assert await seen.get() == ("ANSWER", "42")
    await peer.expect("GET FULL VARIABLE ${DIALSTATUS}|${ANSWEREDTIME}", "200 result=1 (A|B|7)")
    await peer.expect("GET VARIABLE DIALSTATUS", "200 result=1 (A|B)")
    await peer.expect("GET VARIABLE ANSWEREDTIME", "200 result=0")
    assert await seen.get() == ("A|B", None)
    assert await peer.expect_eof() == b""  # STATUS was set in the MSet: no SET VARIABLE SWITCHBOARD_STATUS DONE


# --- the full example call ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Customer:
    id: str
    segment: str
    language: str
    account: str = ""


@dataclass(frozen=True)
class Found:
    result: str
    number: str | None
    segment: str
    confidence: str
    customer: Customer | None


class Callers:
    """Caller ID recognition: every caller is gold customer c-1 (English)."""

    async def begin_call(self, call: CallSnapshot, caller_id: str | None, caller_name: str | None) -> Found:
        return Found("found", caller_id, "gold", "ani", Customer("c-1", "gold", "en", "5550"))


class Journal:
    """The call journal; `ended` is set when the call's end is recorded."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def write(self, call: CallSnapshot) -> None:
        return None

    async def finish(self, call: CallSnapshot, end: CallEnd) -> None:
        self.ended.set()


@dataclass(frozen=True)
class Offer:
    agent: str
    endpoint: str


class Ticket:
    """An agent reserved at once; the call is answered."""

    ring_timeout = 15.0
    wrap_up = 0.0
    ready = True

    async def wait(self) -> Offer:
        return Offer("a7", "PJSIP/a7")

    async def hold(self, agent: str) -> None:
        return None

    async def not_answered(self, agent: str) -> None:
        return None

    async def finished(self, agent: str) -> None:
        return None

    async def leave(self) -> None:
        return None

    async def estimate(self) -> None:
        return None

    async def unreachable(self) -> str:
        await asyncio.Event().wait()
        return "never"


class Desk:
    async def request(self, uid: str, **_: object) -> Ticket:
        return Ticket()


class DialplanAsterisk:
    """Asterisk's side of a call, with a channel's variables: parses each line as Asterisk does, runs MSet, SET and
    GET VARIABLE, GET FULL VARIABLE, answers prompts with the caller's digits, and Dial as answered."""

    def __init__(self, peer: FakeAsterisk, digits: list[str]) -> None:
        self.peer = peer
        self.digits = digits
        self.variables: dict[str, str] = {}
        self.commands: list[str] = []

    def reply(self, line: str) -> str:
        words = agi_words(line)
        verb = " ".join(words[:2])
        if verb == "EXEC MSet":
            self.variables.update(mset(words[2]))
        elif verb == "EXEC Dial":
            self.variables.update({"DIALSTATUS": "ANSWER", "ANSWEREDTIME": "42"})
        elif verb == "SET VARIABLE":
            self.variables[words[2]] = words[3]
        elif verb == "GET VARIABLE":
            value = self.variables.get(words[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        elif words[:3] == ["GET", "FULL", "VARIABLE"]:
            expression = words[3]
            for name, value in self.variables.items():
                expression = expression.replace("${" + name + "}", value)
            return f"200 result=1 ({expression})"
        elif verb == "STREAM FILE" and self.digits and self.digits[0] in (words[3] if len(words) > 3 else ""):
            return f"200 result={ord(self.digits.pop(0))} endpos=8000"
        elif verb == "STREAM FILE":
            return "200 result=0 endpos=8000"
        elif words[0] == "HANGUP":
            return "200 result=1"
        return "200 result=0"

    async def call(self) -> None:
        while True:
            try:
                line = await self.peer.read_command()
            except ConnectionError:
                return
            self.commands.append(line)
            await self.peer.send(f"{self.reply(line)}\n".encode())
            if line == "HANGUP":
                self.peer.close()
                return


@pytest.fixture
def example() -> Dialplan:
    return load_dialplan(REPO / "dialplans")[0]


async def test_the_full_example_call_leaves_every_variable_in_fewer_commands(example: Dialplan) -> None:
    """A recognised gold caller, English, billing, agent answers: customer id, segment, confidence, topic, skills
    and agent are all on the channel; language is not re-set; six commands besides prompts and key waits."""
    journal = Journal()
    engine = FlowEngine(EngineOptions(route_desk=Desk()), logging.getLogger("flow"), clock=lambda: MONDAY_MORNING)
    calls = InboundCalls(_Plan(example), engine, CallPorts(journal=journal, flows=QuietFlow(), callers=Callers()),
                         logging.getLogger("call"))
    srv = AGIServer(asyncio.get_running_loop(), {"inbound": calls}, allowed_peers=["127.0.0.1/32"],
                    header_timeout=1.0, command_timeout=1.0, events=RecordingEvents(),
                    logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    try:
        peer = await FakeAsterisk.connect(srv.port)
        await peer.send_header("inbound", extra={"agi_dnid": "2000", "agi_extension": "2000"})
        asterisk = DialplanAsterisk(peer, ["1", "1"])
        await asyncio.wait_for(asterisk.call(), WAIT)
        await asyncio.wait_for(journal.ended.wait(), WAIT)
    finally:
        await srv.stop(1.0)
    assert {k: asterisk.variables.get(k) for k in ("SWITCHBOARD_CUSTOMER_ID", "SWITCHBOARD_SEGMENT",
                                                   "SWITCHBOARD_CONFIDENCE", "topic", "SWITCHBOARD_SKILLS",
                                                   "SWITCHBOARD_AGENT")} == {
        "SWITCHBOARD_CUSTOMER_ID": "c-1", "SWITCHBOARD_SEGMENT": "gold", "SWITCHBOARD_CONFIDENCE": "ani",
        "topic": "billing", "SWITCHBOARD_SKILLS": "billing:3", "SWITCHBOARD_AGENT": "a7"}
    others = [c for c in asterisk.commands if not c.startswith(("STREAM FILE", "WAIT FOR DIGIT"))]
    assert [c.split(" ")[0] + " " + c.split(" ")[1] if c.startswith("EXEC") else c.split(" ")[0] for c in others] == [
        "EXEC MSet", "ANSWER", "EXEC MSet", "EXEC Dial", "GET", "HANGUP"]
    assert not any("CHANNEL(language)" in c for c in asterisk.commands)


@dataclass
class _Plan:
    current: Dialplan
