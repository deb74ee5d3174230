"""Simulator tests of the flow engine: every node kind, driven by a scripted caller."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.flow_simulator import simulate

FLOWS = """
flows:
  main:
    start: welcome
    nodes:
      welcome: {type: play, prompt: [hello-world], next: lang}
      lang:
        type: language
        prompt: [vm-intro]
        choices: {"1": en, "2": fr}
        timeout: 1
        retries: 0
        next: office
      office:
        type: hours
        timezone: Europe/London
        weekly: {mon: "09:00-17:00", tue: "09:00-17:00", wed: "09:00-17:00", thu: "09:00-17:00",
                 fri: "09:00-17:00", sat: closed, sun: closed}
        holidays: {country: GB, dates: [2026-12-24]}
        closures: [2026-12-28]
        open: segment
        closed: closed_msg
        holiday: holiday_msg
      closed_msg: {type: hangup, prompt: [vm-goodbye]}
      holiday_msg: {type: voicemail, mailbox: "100@default", intent: holiday}
      segment:
        type: branch
        conditions:
          - when: {segment: [vip, gold]}
            goto: vip_agents
        else: top_menu
      vip_agents: {type: route, skills: {general: 1}, priority: 100, endpoint: PJSIP/agent3, overflow: sorry}
      top_menu:
        type: menu
        prompt:
          en: [demo-instruct]
          fr: [demo-instruct-fr]
        choices: {"1": billing, "2": account, "9": operator}
        timeout: 2
        retries: 1
        invalid_prompt: pbx-invalid
        no_input_prompt: please-try-again
        on_no_input: operator
        on_failure: sorry
      billing:
        type: set
        variables: {topic: billing}
        intent: billing
        next: billing_agents
      billing_agents: {type: route, skills: {billing: 3}, overflow: sorry}
      account:
        type: collect
        prompt: enter-conf-pin-number
        variable: account
        min_digits: 4
        max_digits: 6
        pattern: "[0-9]+"
        retries: 1
        invalid_prompt: privacy-incorrect
        next: account_done
        on_failure: operator
      account_done: {type: goto, flow: self_service}
      operator: {type: transfer, to: PJSIP/agent2, timeout: 15}
      sorry: {type: hangup, prompt: sorry-youre-having-problems}
  self_service:
    start: thanks
    nodes:
      thanks: {type: hangup, prompt: [auth-thankyou], intent: balance}
"""
ROUTING = "skills: [billing, general]\n"
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Dialplan:
    folder: Path = tmp_path_factory.mktemp("dialplans")
    (folder / "main.yaml").write_text(FLOWS)
    (folder / "routing.yaml").write_text(ROUTING)
    loaded, warnings = load_dialplan(folder)
    assert warnings == []
    return loaded


def test_menu_choice_routes_to_skill(plan: Dialplan) -> None:
    """play → language (timeout keeps en) → open hours → branch (standard) → menu 1 → set → route."""
    result = simulate(plan, "main", digits=["-", "1"], at=MONDAY_NOON)
    assert result.path == ("main.welcome", "main.lang", "main.office", "main.segment", "main.top_menu",
                           "main.billing", "main.billing_agents")
    assert result.destination == "PJSIP/agent1"
    assert result.outcome == "routed"
    assert result.variables["topic"] == "billing"
    assert result.channel_variables["SWITCHBOARD_SKILLS"] == "billing:3"
    assert result.intents == ("billing",)


def test_barge_in_digit_reaches_the_next_menu(plan: Dialplan) -> None:
    """A key pressed during an interruptible prompt is kept for the menu that follows."""
    result = simulate(plan, "main", digits=["2", "1"], at=MONDAY_NOON)
    # "2" barges into the welcome and answers the language menu (French); "1" barges into the French menu.
    assert result.prompts == ("hello-world", "demo-instruct-fr")
    assert result.channel_variables["CHANNEL(language)"] == "fr"
    assert result.path[-1] == "main.billing_agents"


def test_vip_segment_branches_to_vip_route(plan: Dialplan) -> None:
    """A VIP caller skips the menu and is routed to the VIP endpoint."""
    result = simulate(plan, "main", digits=["-"], at=MONDAY_NOON, segment="vip")
    assert result.path[-1] == "main.vip_agents"
    assert result.destination == "PJSIP/agent3"


def test_closed_hours_and_holidays(plan: Dialplan) -> None:
    """Saturday is closed, 24 Dec is a listed holiday, 25 Dec a GB holiday, 28 Dec an exceptional closure."""
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    assert simulate(plan, "main", digits=["-"], at=saturday).path[-1] == "main.closed_msg"
    for day, expected in ((24, "main.holiday_msg"), (25, "main.holiday_msg"), (28, "main.closed_msg")):
        moment = datetime(2026, 12, day, 12, 0, tzinfo=timezone.utc)
        assert simulate(plan, "main", digits=["-"], at=moment).path[-1] == expected, day
    result = simulate(plan, "main", digits=["-"], at=datetime(2026, 12, 24, 12, 0, tzinfo=timezone.utc))
    assert result.outcome == "voicemail" and result.destination == "voicemail:100@default"


def test_hours_use_the_schedule_time_zone(plan: Dialplan) -> None:
    """08:30 UTC in summer is 09:30 in London: open."""
    summer = datetime(2026, 7, 6, 8, 30, tzinfo=timezone.utc)
    assert simulate(plan, "main", digits=["-", "1"], at=summer).path[3] == "main.segment"


def test_menu_invalid_then_valid(plan: Dialplan) -> None:
    """An invalid key plays the invalid prompt and asks again."""
    result = simulate(plan, "main", digits=["-", "7", "1"], at=MONDAY_NOON)
    assert "pbx-invalid" in result.prompts
    assert result.path[-1] == "main.billing_agents"


def test_menu_no_input_goes_to_its_destination(plan: Dialplan) -> None:
    """Silence through every retry goes to on_no_input (the operator transfer)."""
    result = simulate(plan, "main", digits=["-", "-", "-"], at=MONDAY_NOON)
    assert "please-try-again" in result.prompts
    assert result.path[-1] == "main.operator"
    assert result.outcome == "transferred" and result.destination == "PJSIP/agent2"


def test_menu_invalid_every_time_goes_to_failure(plan: Dialplan) -> None:
    """Invalid keys through every retry go to on_failure."""
    result = simulate(plan, "main", digits=["-", "7", "8"], at=MONDAY_NOON)
    assert result.path[-1] == "main.sorry"
    assert result.outcome == "contained"


def test_collect_and_goto_subflow(plan: Dialplan) -> None:
    """collect stores a valid account number, then goto runs another flow."""
    result = simulate(plan, "main", digits=["-", "2", "12345#"], at=MONDAY_NOON)
    assert result.variables["account"] == "12345"
    assert result.path[-2:] == ("main.account_done", "self_service.thanks")
    assert result.intents == ("balance",)


def test_collect_rejects_short_input_then_fails(plan: Dialplan) -> None:
    """Too few digits twice goes to on_failure after the invalid prompt."""
    result = simulate(plan, "main", digits=["-", "2", "12#", "1#"], at=MONDAY_NOON)
    assert "privacy-incorrect" in result.prompts
    assert "account" not in result.variables
    assert result.path[-1] == "main.operator"


def test_transfer_unanswered_falls_back(plan: Dialplan) -> None:
    """A transfer nobody answers hands the caller to the dialplan's fallback (never dead air)."""
    result = simulate(plan, "main", digits=["-", "9"], at=MONDAY_NOON, agents_answer=False)
    assert result.outcome == "fallback"
    assert result.channel_variables["SWITCHBOARD_STATUS"] == "FALLBACK"


def test_route_unanswered_overflows(plan: Dialplan) -> None:
    """A route nobody answers goes to its overflow node."""
    result = simulate(plan, "main", digits=["-", "1"], at=MONDAY_NOON, agents_answer=False)
    assert result.path[-1] == "main.sorry"


def test_caller_hangs_up_mid_menu(plan: Dialplan) -> None:
    """A hang-up during the menu ends the run as abandoned with the last node recorded."""
    result = simulate(plan, "main", digits=["-"], at=MONDAY_NOON, hangup_after=4)
    assert result.outcome == "abandoned"
    assert result.path[-1] == "main.top_menu"


def test_a_failed_voicemail_is_not_counted_as_voicemail(plan: Dialplan) -> None:
    """VoiceMail answering result=-2 goes to the fallback and leaves no `voicemail` outcome (issue 14, defect 9)."""
    import asyncio
    import logging

    from switchboard.ivr.agi_codec import AGIReply
    from switchboard.ivr.channel import AGICommandFailed
    from switchboard.ivr.flow_engine import CallState, EngineOptions, FlowEngine
    from switchboard.ivr.flow_simulator import ScriptedChannel

    class NoMailbox(ScriptedChannel):
        async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
            if application == "VoiceMail":
                raise AGICommandFailed("EXEC", AGIReply(200, "-2"))
            return await super().exec(application, *args, allowance=allowance)

    moment = datetime(2026, 12, 24, 12, 0, tzinfo=timezone.utc)
    engine = FlowEngine(EngineOptions(), logging.getLogger("test"), clock=lambda: moment)
    state = CallState()
    with pytest.raises(AGICommandFailed):
        asyncio.run(engine.run(NoMailbox(digits=["-"]), plan, plan.flows["main"], state))
    assert state.path[-1] == "main.holiday_msg"
    assert state.outcome != "voicemail" and state.destination is None
