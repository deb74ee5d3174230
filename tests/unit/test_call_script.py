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
    account: str = ""


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


@dataclass(frozen=True)
class Found:
    """A recognition result as cti returns it."""

    result: str
    number: str | None
    segment: str
    confidence: str
    customer: Customer | None


@dataclass
class Callers:
    """Recognises one number as customer c-7 (VIP, French); everyone else is unknown."""

    async def begin_call(self, call: CallSnapshot, caller_id: str | None, caller_name: str | None) -> Found:
        if caller_id == "+33612345678":
            return Found("found", caller_id, "vip", "ani", Customer("c-7", "vip", "fr", "5555"))
        return Found("unknown", caller_id if caller_id and caller_id.startswith("+") else None, "standard", "none",
                     None)


@dataclass(frozen=True)
class Earlier:
    """The earlier contact a repeat is counted against."""

    queue: str
    segment: str
    flow: str


class RepeatingJournal(Journal):
    """A journal whose contact ledger finds an earlier contact for every call."""

    async def finish(self, call: CallSnapshot, end: CallEnd) -> Earlier:  # type: ignore[override]
        await super().finish(call, end)
        return Earlier("billing", "standard", "billing")


class BrokenJournal:
    """A call journal whose store is gone."""

    async def write(self, call: CallSnapshot) -> None:
        raise ConnectionError("redis is away")

    async def finish(self, call: CallSnapshot, end: CallEnd) -> None:
        raise ConnectionError("redis is away")


def _channel(caller: str, dnid: str = "2000", digits: list[str] | None = None) -> ScriptedChannel:
    channel = ScriptedChannel(digits=digits or ["-", "-", "-"])
    channel.env = AGIEnvironment.from_variables(  # type: ignore[attr-defined]
        {"agi_uniqueid": f"u-{caller}", "agi_dnid": dnid, "agi_callerid": caller, "agi_language": "en"})
    return channel


async def test_number_without_a_flow_goes_to_the_fallback(plan: Dialplan) -> None:
    """A dialled number with no flow and no default: status FAILED for the dialplan's fallback, counted as failed."""
    channel = _channel("+441632960001", dnid="9999")
    finished = Finished()
    engine = FlowEngine(EngineOptions(), logging.getLogger("test"))
    await InboundCalls(Plan(plan), engine, CallPorts(journal=Journal(channel), flows=finished),
                       logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert channel.variables["SWITCHBOARD_STATUS"] == "FAILED"
    assert finished.calls == [("none", "failed")] and channel.events == []


async def test_recognised_caller_is_told_to_the_dialplan_and_recorded(plan: Dialplan) -> None:
    """A recognised VIP: customer id, segment, confidence and language reach the channel and the journal."""
    channel = _channel("+33612345678")
    journal = Journal(channel)
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    ports = CallPorts(journal=journal, flows=Finished(), callers=Callers())
    await InboundCalls(Plan(plan), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert {k: channel.variables[k] for k in ("SWITCHBOARD_CUSTOMER_ID", "SWITCHBOARD_SEGMENT",
                                              "SWITCHBOARD_CONFIDENCE", "CHANNEL(language)")} == {
        "SWITCHBOARD_CUSTOMER_ID": "c-7", "SWITCHBOARD_SEGMENT": "vip", "SWITCHBOARD_CONFIDENCE": "ani",
        "CHANNEL(language)": "fr"}
    first = journal.writes[0][0]
    assert (first.recognition, first.customer_id, first.segment, first.language, first.state) == (
        "found", "c-7", "vip", "fr", "ivr")


async def test_a_repeat_is_counted_against_the_earlier_contact(plan: Dialplan) -> None:
    """FCR: the journal says this contact repeats an earlier one; the repeat is counted with the earlier labels."""
    channel = _channel("+441632960002", digits=["1", "5555#", "1234#"])
    resolution = Resolution()
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    ports = CallPorts(journal=RepeatingJournal(channel), flows=Finished(), callers=Callers(), count_contacts=True,
                      resolution=resolution)
    await InboundCalls(Plan(plan), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert resolution.seen == [("contact", "self-service", "gold", "billing"),
                               ("repeat", "billing", "standard", "billing")]


async def test_a_broken_journal_never_reaches_the_caller(plan: Dialplan) -> None:
    """The journal's store is gone: the call still runs its flow to the agent and ends as routed."""
    channel = LiveChannel(digits=["1", "5555#", "1234#"])
    finished = Finished()
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    await InboundCalls(Plan(plan), engine, CallPorts(journal=BrokenJournal(), flows=finished),
                       logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert finished.calls == [("billing", "routed")] and any(e.startswith("Dial(") for e in channel.events)


def _ended_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if " ended: " in r.getMessage()]


async def test_one_info_line_per_finished_call_without_the_callers_identity(
        plan: Dialplan, caplog: pytest.LogCaptureFixture) -> None:
    """A routed call logs one INFO line (uniqueid, flow, outcome, queue, agent, wait; fields also as extras), and no
    log line of the call carries the caller's number or name."""
    channel = ScriptedChannel(digits=["1", "5555#", "1234#"])
    channel.env = AGIEnvironment.from_variables(  # type: ignore[attr-defined]
        {"agi_uniqueid": "1700000000.9", "agi_dnid": "2000", "agi_callerid": "+441632960777",
         "agi_calleridname": "Ada Lovelace", "agi_language": "en"})
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    with caplog.at_level(logging.DEBUG):
        await InboundCalls(Plan(plan), engine, CallPorts(journal=Journal(channel), flows=Finished()),
                           logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    [line] = _ended_lines(caplog)
    assert line.levelno == logging.INFO
    assert line.getMessage() == ("call 1700000000.9 ended: flow=billing outcome=routed queue=- agent=PJSIP/agent1 "
                                 "wait=-")
    assert {k: getattr(line, k) for k in ("uniqueid", "flow", "outcome", "queue", "agent", "wait")} == {
        "uniqueid": "1700000000.9", "flow": "billing", "outcome": "routed", "queue": None, "agent": "PJSIP/agent1",
        "wait": None}
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert "1632960777" not in text and "Lovelace" not in text, text


async def test_a_call_without_a_flow_logs_its_end_too(plan: Dialplan, caplog: pytest.LogCaptureFixture) -> None:
    """The no-flow fallback is a finished call as well: one line, flow none, outcome failed."""
    channel = _channel("+441632960001", dnid="9999")
    engine = FlowEngine(EngineOptions(), logging.getLogger("test"))
    with caplog.at_level(logging.INFO):
        await InboundCalls(Plan(plan), engine, CallPorts(journal=Journal(channel), flows=Finished()),
                           logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert [r.getMessage() for r in _ended_lines(caplog)] == [
        "call u-+441632960001 ended: flow=none outcome=failed queue=- agent=- wait=-"]


def test_a_skills_routed_call_logs_queue_agent_and_wait(plan: Dialplan, caplog: pytest.LogCaptureFixture) -> None:
    """After the skills router: the route node's queue, the agent id (not `agent:`), the wait rounded to 0.1 s."""
    from switchboard.ivr.call_script import InboundCall
    engine = FlowEngine(EngineOptions(), logging.getLogger("test"))
    channel = LiveChannel(digits=[])
    call = InboundCall(channel, plan, engine, CallPorts(journal=Journal(channel), flows=Finished()),
                       logging.getLogger("test"), lambda: 0.0)  # type: ignore[arg-type]
    call.flow = plan.flows["billing"]
    call.state.queue, call.state.destination, call.state.outcome, call.state.waited = (
        "billing", "agent:agent7", "routed", 12.345)
    with caplog.at_level(logging.INFO):
        call.log_ended()
    [line] = _ended_lines(caplog)
    assert line.getMessage() == ("call 1700000000.1 ended: flow=billing outcome=routed queue=billing agent=agent7 "
                                 "wait=12.3")


@dataclass
class CarryingDesk:
    """A route desk that takes the before-connect record (ConnectRecord) and notes the order of what it saw; its
    offers fail (the caller then goes to the fallback), which is enough to see the hand-over."""

    seen: list[str] = field(default_factory=list)
    handed: list[CallSnapshot] = field(default_factory=list)

    def hand_over(self, call: CallSnapshot) -> None:
        self.seen.append("hand_over " + call.last_node)
        self.handed.append(call)

    async def request(self, uid: str, **asked: object) -> object:
        self.seen.append("request " + uid)
        raise ConnectionError("no router in this test")


async def test_a_route_node_hands_its_record_to_the_route_desk(tmp_path: Path) -> None:
    """A route node that asks the route desk gives the record before ringing to the desk (it travels with the
    offer) instead of writing it alone; a transfer node afterwards still writes its own."""
    (tmp_path / "main.yaml").write_text(FLOWS.replace("endpoint: PJSIP/agent1, ", ""))
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    (tmp_path / "numbers.yaml").write_text('numbers: {"2000": billing}\n')
    routed = load_dialplan(tmp_path)[0]
    channel = LiveChannel(digits=["1", "5555#", "1234#"])
    journal = Journal(channel)
    desk = CarryingDesk()
    engine = FlowEngine(EngineOptions(customers=Directory(), route_desk=desk), logging.getLogger("test"))  # type: ignore[arg-type]
    ports = CallPorts(journal=journal, flows=Finished(), route_record=desk)
    await InboundCalls(Plan(routed), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert desk.seen == ["hand_over billing.agents", "request 1700000000.1"]
    assert desk.handed[0].path[-1] == "billing.agents" and desk.handed[0].customer_id == "c-7"
    assert not [call for call, _ in journal.writes if call.last_node == "billing.agents" and call.state == "ivr"]


async def test_a_route_node_with_a_fixed_endpoint_writes_its_record_itself(plan: Dialplan) -> None:
    """With a route desk wired, a route node that dials its own endpoint does not involve the desk: the record is
    written before Dial as before."""
    channel = LiveChannel(digits=["1", "5555#", "1234#"])
    journal = Journal(channel)
    desk = CarryingDesk()
    engine = FlowEngine(EngineOptions(customers=Directory(), route_desk=desk), logging.getLogger("test"))  # type: ignore[arg-type]
    ports = CallPorts(journal=journal, flows=Finished(), route_record=desk)
    await InboundCalls(Plan(plan), engine, ports, logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    assert desk.seen == []
    assert [call.last_node for call, events in journal.writes
            if call.last_node and not any(e.startswith("Dial(") for e in events)] == ["billing.agents"]
