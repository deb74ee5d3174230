"""The live-call wrapper of YAML flows: what it records in the call context before an agent's phone rings."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pytest

from switchboard.ivr.agi_codec import AGIEnvironment
from switchboard.ivr.dialplan_call import DialplanCall
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
class Recorder:
    """The call-context store: every write with the channel events seen so far."""

    channel: ScriptedChannel
    writes: list[tuple[dict[str, str], tuple[str, ...]]] = field(default_factory=list)

    async def record(self, uniqueid: str, fields: Mapping[str, str]) -> None:
        self.writes.append((dict(fields), tuple(self.channel.events)))


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
    recorder = Recorder(channel)
    finished: list[tuple[str, str]] = []
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    call = DialplanCall(lambda: plan, engine, recorder, lambda flow, outcome: finished.append((flow, outcome)),
                        logging.getLogger("test"))
    await call(channel)  # type: ignore[arg-type]
    before_dial = [fields for fields, events in recorder.writes
                   if "path" in fields and not any(e.startswith("Dial(") for e in events)]
    assert before_dial == [{"last_node": "billing.agents",
                            "path": "billing.menu > billing.verify > billing.agents",
                            "intents": "billing,identify", "language": "en", "customer_id": "c-7",
                            "segment": "gold", "confidence": "verified"}]
    ended = recorder.writes[-1][0]
    assert ended["state"] == "ended" and ended["outcome"] == "routed" and ended["customer_id"] == "c-7"
    assert finished == [("billing", "routed")]


async def test_transfer_records_progress_too(plan: Dialplan) -> None:
    """A transfer node also records the call's progress before it dials."""
    channel = LiveChannel(digits=["1", "-", "-", "-"])  # no account: identify fails, the desk gets the call
    recorder = Recorder(channel)
    engine = FlowEngine(EngineOptions(customers=Directory()), logging.getLogger("test"))
    await DialplanCall(lambda: plan, engine, recorder, lambda flow, outcome: None,
                       logging.getLogger("test"))(channel)  # type: ignore[arg-type]
    progress = [fields for fields, events in recorder.writes if fields.get("last_node") == "billing.desk"
                and not any(e.startswith("Dial(") for e in events)]
    assert progress and progress[0]["confidence"] == "none"
    assert progress[0]["path"].endswith("billing.verify > billing.desk")
