"""Channel variables in batches: how a set of variables is split into commands, the combined read, and when the
engine sends the variables set/collect nodes decided (with the call's next ones, before the dialplan takes over)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pytest

from switchboard.ivr.flow_engine import CallState, EngineOptions, FlowEngine
from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.variable_batch import mset_pair, plan_writes, read_expression, split_values

FLOWS = """
flows:
  to_desk:
    start: remember
    nodes:
      remember: {type: set, variables: {topic: billing, line: "2"}, next: desk}
      desk: {type: transfer, to: PJSIP/desk}
  quiet:
    start: remember
    nodes:
      remember: {type: set, variables: {topic: sales}, next: hello}
      hello: {type: play, prompt: hello-world, next: bye}
      bye: {type: hangup}
  lang:
    start: pick
    nodes:
      pick: {type: language, prompt: vm-press, choices: {"1": en, "2": fr}, next: bye}
      bye: {type: hangup}
  agent:
    start: remember
    nodes:
      remember: {type: set, variables: {topic: billing}, next: agents}
      agents: {type: route, skills: {billing: 2}, endpoint: PJSIP/a1, overflow: bye}
      bye: {type: hangup}
  queued:
    start: remember
    nodes:
      remember: {type: set, variables: {topic: billing}, next: agents}
      agents: {type: route, skills: {billing: 2}, overflow: bye}
      bye: {type: hangup}
"""


def test_a_lone_pair_goes_by_set_variable() -> None:
    """One variable: SET VARIABLE (no MSet for nothing to batch)."""
    plan = plan_writes({"SWITCHBOARD_STATUS": "DONE"})
    assert plan.batches == () and plan.singles == (("SWITCHBOARD_STATUS", "DONE"),) and plan.refused == ()


def test_names_that_are_not_plain_go_by_set_variable() -> None:
    """A name MSet could misread (`=`, `,`, `}`) is sent on its own; the plain ones still travel together."""
    plan = plan_writes({"A": "1", "B": "2", "C=D": "3", "CHANNEL(language)": "fr"})
    assert plan.batches == (("A=1", "B=2", "CHANNEL(language)=fr"),) and plan.singles == (("C=D", "3"),)


def test_escaping_covers_what_mset_would_split_on() -> None:
    """`\\`, `"`, `,`, brackets are escaped; `=` and other characters are left as they are."""
    assert mset_pair("V", 'a,b="c"\\(d)[e]') == 'V=a\\,b=\\"c\\"\\\\\\(d\\)\\[e\\]'


def test_combined_read_splits_into_one_value_per_name() -> None:
    """`ANSWER|42` → two values; empty reads as None; a count that does not match means read one by one."""
    assert read_expression(["DIALSTATUS", "ANSWEREDTIME"]) == "${DIALSTATUS}|${ANSWEREDTIME}"
    assert split_values("ANSWER|42", 2) == ("ANSWER", "42")
    assert split_values("|", 2) == (None, None)
    assert split_values("A|B|42", 2) is None and split_values(None, 2) is None


def test_a_name_that_could_break_the_expression_is_refused() -> None:
    """`${...}` cannot carry a `}` or a space: such a name is a programming error, raised before anything is sent."""
    with pytest.raises(ValueError):
        read_expression(["DIALSTATUS", "A}B"])


@dataclass
class Line:
    """A channel recording the commands a flow sends (batches as one entry); refuses what the codec would."""

    sent: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hang_up_at: str | None = None

    def _send(self, what: str) -> None:
        if self.hang_up_at is not None and what.startswith(self.hang_up_at):
            raise CallerHungUp(what)
        self.sent.append(what)

    async def answer(self) -> None:
        self._send("ANSWER")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self._send(f"STREAM {prompt}")
        return "1" if escape_digits else None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self._send("WAIT")
        return None

    async def set_variable(self, name: str, value: str) -> None:
        await self.set_variables({name: value})

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        refused = plan_writes(pairs).refused
        sent = {k: v for k, v in pairs.items() if k not in refused}
        self._send("SET " + ",".join(f"{k}={v}" for k, v in sent.items()))
        self.variables.update(sent)
        return refused

    async def get_variable(self, name: str) -> str | None:
        return self.variables.get(name)

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        return tuple(self.variables.get(n) for n in names)

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self._send(f"{application}({','.join(args)})")
        if application == "Dial":
            self.variables["DIALSTATUS"] = "ANSWER"
        return 0

    async def hangup(self) -> None:
        self._send("HANGUP")


@pytest.fixture
def plan(tmp_path: Path) -> Dialplan:
    (tmp_path / "main.yaml").write_text(FLOWS)
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    return load_dialplan(tmp_path)[0]


async def _run(plan: Dialplan, flow: str, line: Line, state: CallState | None = None) -> CallState:
    engine = FlowEngine(EngineOptions(), logging.getLogger("flow"))
    return await engine.run(line, plan, plan.flows[flow], state or CallState(uniqueid="u1"))


async def test_set_node_variables_reach_the_channel_before_a_dial(plan: Dialplan) -> None:
    """A set node sends nothing itself; its variables go in one batch before the transfer's Dial."""
    line = Line()
    await _run(plan, "to_desk", line)
    assert line.sent == ["ANSWER", "SET topic=billing,line=2", "Dial(PJSIP/desk,30,g)"]


async def test_set_node_variables_reach_the_channel_before_a_hangup(plan: Dialplan) -> None:
    """A flow that hangs up still leaves its variables for the dialplan's hang-up handling."""
    line = Line()
    await _run(plan, "quiet", line)
    assert line.sent == ["ANSWER", "STREAM hello-world", "SET topic=sales", "HANGUP"]


class Unreachable:
    """A route desk whose store is down."""

    async def request(self, uid: str, **_: object) -> None:
        raise ConnectionError("redis down")


async def test_the_fallback_status_travels_with_the_route_nodes_variables(plan: Dialplan) -> None:
    """Router unreachable: topic, skills, reason and FALLBACK status in one batch, nothing before it."""
    line = Line()
    engine = FlowEngine(EngineOptions(route_desk=Unreachable()), logging.getLogger("flow"))  # type: ignore[arg-type]
    state = await engine.run(line, plan, plan.flows["queued"], CallState(uniqueid="u1"))
    assert state.outcome == "fallback"
    assert line.sent == ["ANSWER", "SET topic=billing,SWITCHBOARD_SKILLS=billing:2,"
                                   "SWITCHBOARD_REASON=router-unreachable,SWITCHBOARD_STATUS=FALLBACK"]


async def test_a_caller_gone_before_the_batch_costs_nothing(plan: Dialplan) -> None:
    """The caller hangs up just as the variables would be sent: the run ends quietly, nothing else is sent."""
    line = Line(hang_up_at="SET")
    await _run(plan, "quiet", line)
    assert line.sent == ["ANSWER", "STREAM hello-world"]


async def test_route_to_an_endpoint_sends_skills_with_the_set_nodes_variables(plan: Dialplan) -> None:
    """topic (set node) and SWITCHBOARD_SKILLS travel in one batch before the Dial."""
    line = Line()
    await _run(plan, "agent", line)
    assert line.sent[:3] == ["ANSWER", "SET topic=billing,SWITCHBOARD_SKILLS=billing:2", "Dial(PJSIP/a1,300,g)"]


async def test_choosing_the_language_already_spoken_sends_nothing(plan: Dialplan) -> None:
    """Key 1 (English) on an English call: no CHANNEL(language) command; key 2 (French) sets it."""
    line = Line()
    await _run(plan, "lang", line, CallState(uniqueid="u1", language="en"))
    assert not any(s.startswith("SET") for s in line.sent)
    french = Line()
    french_state = CallState(uniqueid="u2", language="fr")  # a French call choosing 1 (English) changes it
    await _run(plan, "lang", french, french_state)
    assert "SET CHANNEL(language)=en" in french.sent and french_state.language == "en"


async def test_a_value_with_a_line_break_is_skipped_and_logged(plan: Dialplan,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A set variable whose value cannot travel in an AGI line is skipped with a warning naming it; the rest go."""
    line = Line()
    state = CallState(uniqueid="u1")
    state.unsent["note"] = "two\nlines"
    with caplog.at_level(logging.WARNING):
        await _run(plan, "to_desk", line, state)
    assert "SET topic=billing,line=2" in line.sent and "note" not in line.variables
    assert "channel variable(s) note not set" in caplog.text
