"""The call script: what it records in the call journal before an agent's phone rings, and how a call ends."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from switchboard.ivr.agi_codec import AGIEnvironment
from switchboard.ivr.call_ports import CallEnd, CallSnapshot, ContactFacts
from switchboard.ivr.call_script import CallPorts, InboundCalls
from switchboard.ivr.flow_engine import EngineOptions, FlowEngine
from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.flow_simulator import ScriptedChannel

FLOWS = """
flows:
  billing:
    start: menu
    nodes:
      menu:
        type: menu
        prompt: demo-instruct
        choices: {"1": verify}
        on_failure: verify
        intent: billing
      verify:
        type: identify
        account_prompt: agent-user
        secret_prompt: agent-pass
        next: agents
        on_failure: desk
        intent: identify
      agents: {type: route, skills: {billing: 1}, endpoint: PJSIP/agent1, overflow: desk}
      desk: {type: transfer, to: PJSIP/agent2}
"""


@dataclass(frozen=True)
class Customer:
    id: str
    segment: str
    language: str


class Directory:
    async def find_by_account(self, account: str) -> Customer | None:
        return Customer("c-7", "gold", "en") if account == "5555" else None

    async def verify(self, customer_id: str, secret: str) -> bool:
        return (customer_id, secret) == ("c-7", "1234")


@dataclass
class Journal:
    """The call journal: every snapshot with the channel events seen so far."""

    channel: ScriptedChannel
    writes: list[tuple[CallSnapshot, tuple[str, ...]]] = field(default_factory=list)
    ends: list[CallEnd] = field(default_factory=list)

    async def write(self, call: CallSnapshot) -> None:
        self.writes.append((call, tuple(self.channel.events)))

    async def finish(self, call: CallSnapshot, end: CallEnd) -> None:
        self.writes.append((call, tuple(self.channel.events)))
        self.ends.append(end)


@dataclass
class Finished:
    """The flow observer: how each call ended."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def on_event(self, event: str, where: str) -> None:
        """Node events are not what these tests look at."""

    def on_abandoned(self, where: str) -> None:
        """IVR hang-ups are not what these tests look at."""

    def on_finished(self, flow: str, outcome: str) -> None:
        self.calls.append((flow, outcome))


@dataclass
class Plan:
    """A dialplan source that always has the same version."""

    current: Dialplan


class LiveChannel(ScriptedChannel):
    """The scripted caller with the AGI environment of a real call."""

    env = AGIEnvironment.from_variables({"agi_uniqueid": "1700000000.1", "agi_dnid": "2000",
                                         "agi_callerid": "unknown", "agi_language": "en"})


@pytest.fixture
def plan(tmp_path: Path) -> Dialplan:
    (tmp_path / "main.yaml").write_text(FLOWS)
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    (tmp_path / "numbers.yaml").write_text('numbers: {"2000": billing}\n')
    return load_dialplan(tmp_path)[0]


async def test_progress_is_recorded_before_the_agent_rings(plan: Dialplan) -> None:
    """Path, intents and the customer verified on the way are in the call context before Dial (screen pops)."""
    channel = LiveChannel(digits=["1", "5555#", "1234#"])
    journal = Journal(channel)
    finished = Finished()
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    calls = InboundCalls(Plan(plan), engine, CallPorts(journal=journal, flows=finished), logging.getLogger("test"))
    await calls(channel)  # type: ignore[arg-type]
    before_dial = [call for call, events in journal.writes
                   if call.last_node and not any(e.startswith("Dial(") for e in events)]
    assert [(c.last_node, c.path, c.intents, c.language, c.customer_id, c.segment, c.confidence, c.state)
            for c in before_dial] == [("billing.agents", ("billing.menu", "billing.verify", "billing.agents"),
                                       ("billing", "identify"), "en", "c-7", "gold", "verified", "ivr")]
    ended = journal.writes[-1][0]
    assert ended.state == "ended" and ended.outcome == "routed" and ended.customer_id == "c-7"
    assert finished.calls == [("billing", "routed")]


async def test_transfer_records_progress_too(plan: Dialplan) -> None:
    """A transfer node also records the call's progress before it dials."""
    channel = LiveChannel(digits=["1", "-", "-", "-"])  # no account: identify fails, the desk gets the call
    journal = Journal(channel)
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    await InboundCalls(Plan(plan), engine, CallPorts(journal=journal, flows=Finished()),
                       logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    progress = [call for call, events in journal.writes if call.last_node == "billing.desk"
                and not any(e.startswith("Dial(") for e in events)]
    assert progress and progress[0].confidence == "none"
    assert progress[0].path[-2:] == ("billing.verify", "billing.desk")


@dataclass
class Resolution:
    """The FCR observer: contacts and repeats counted."""

    seen: list[tuple[str, ...]] = field(default_factory=list)

    def contact(self, queue: str, segment: str, flow: str) -> None:
        self.seen.append(("contact", queue, segment, flow))

    def repeat(self, queue: str, segment: str, flow: str) -> None:
        self.seen.append(("repeat", queue, segment, flow))

    def survey(self, flow: str, question: str, answer: str) -> None:
        """Survey answers are not what these tests look at."""


async def test_the_end_goes_to_the_journal_in_one_finish(plan: Dialplan) -> None:
    """The final snapshot, the self-service entry and the FCR contact reach the journal together; the contact is
    counted once the journal took it."""
    channel = LiveChannel(digits=["1", "5555#", "1234#"])
    journal = Journal(channel)
    resolution = Resolution()
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    ports = CallPorts(journal=journal, flows=Finished(), count_contacts=True, resolution=resolution)
    await InboundCalls(Plan(plan), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    [end] = journal.ends
    assert end.self_service is not None and end.self_service["flow"] == "billing"
    assert end.self_service["intents"] == ["billing", "identify"] and end.self_service["outcome"] == "routed"
    assert end.contact == ContactFacts(customer_id="c-7", number=None, queue="self-service", segment="gold",
                                       flow="billing", intent="billing")  # a fixed endpoint: no route desk queue
    assert resolution.seen == [("contact", "self-service", "gold", "billing")]


async def test_a_withheld_unverified_caller_leaves_no_contact(plan: Dialplan) -> None:
    """Nobody to match a repeat against: no self-service entry, no FCR contact, nothing counted."""
    channel = LiveChannel(digits=["1", "-", "-", "-"])
    journal = Journal(channel)
    resolution = Resolution()
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    ports = CallPorts(journal=journal, flows=Finished(), count_contacts=True, resolution=resolution)
    await InboundCalls(Plan(plan), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert journal.ends == [CallEnd(self_service=None, contact=None)] and resolution.seen == []
