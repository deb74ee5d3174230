"""Simulator tests of the node kinds test_flow_engine.py leaves out, identify & verify, and the repo's main.yaml.

Each test runs the real engine through `ivr.flow_simulator.simulate` with a scripted caller; identify nodes get a
small in-memory customer directory (what `EngineOptions.customers` / `CustomerDirectory` ask for).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.flow_simulator import PATIENCE, SimulatedLine, simulate
from switchboard.router.route_preview import RoutePreview
from switchboard.router.routing_config import parse_routing

REPO_DIALPLANS = Path(__file__).parents[2] / "dialplans"

FLOWS = """
flows:
  barge:                     # play with barge-in (the default) before a menu
    start: intro
    nodes:
      intro: {type: play, prompt: [hello-world, beep, demo-congrats], next: pick}
      pick: &pick
        type: menu
        prompt: demo-instruct
        choices: {"1": one, "2": two}
        retries: 0
        on_failure: two
      one: {type: hangup}
      two: {type: hangup}
  no_barge:                  # the same with barge_in: false
    start: intro
    nodes:
      intro: {type: play, prompt: [hello-world, beep], barge_in: false, next: pick}
      pick: *pick
      one: {type: hangup}
      two: {type: hangup}

  languages:
    start: lang
    nodes:
      lang:
        type: language
        prompt: [vm-press, digits/1, vm-press, digits/2]
        choices: {"1": en, "2": fr}
        timeout: 2
        retries: 1
        next: which
      which:
        type: branch
        conditions:
          - when: {language: fr}
            goto: bonjour
        else: hello
      bonjour: {type: hangup, prompt: {en: [vm-goodbye], fr: [au-revoir]}}
      hello: {type: hangup, prompt: {en: [vm-goodbye], fr: [au-revoir]}}

  setter:
    start: remember
    nodes:
      remember: {type: set, variables: {topic: billing, priority_line: "1"}, next: check}
      check:
        type: branch
        conditions:
          - when: {variable: {topic: billing, priority_line: "1"}}
            goto: mailbox
        else: bye
      mailbox: {type: voicemail, mailbox: "100@default", intent: message}
      bye: {type: hangup}

  goodbye:
    start: bye
    nodes:
      bye: {type: hangup, prompt: [vm-goodbye, beep]}
  silent_goodbye:
    start: bye
    nodes:
      bye: {type: hangup}

  office:                    # Paris hours, French bank holidays, one extra holiday and one closure
    start: hours
    nodes:
      hours:
        type: hours
        timezone: Europe/Paris
        weekly: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00",
                 fri: "09:00-18:00"}
        holidays: {country: FR, dates: [2026-08-14]}
        closures: [2026-07-15, 2026-08-14]
        open: open_msg
        closed: closed_msg
        holiday: holiday_msg
      open_msg: {type: hangup, prompt: hello-world}
      closed_msg: {type: hangup, prompt: vm-goodbye}
      holiday_msg: {type: hangup, prompt: im-sorry}
  scotland:                  # a subdivision's calendar; no `holiday` node: holidays take the closed path
    start: hours
    nodes:
      hours:
        type: hours
        timezone: Europe/London
        weekly: {fri: "09:00-17:00"}
        holidays: {country: GB, subdivision: SCT}
        open: open_msg
        closed: closed_msg
      open_msg: {type: hangup, prompt: hello-world}
      closed_msg: {type: hangup, prompt: vm-goodbye}

  verify:
    start: who
    nodes:
      who:
        type: identify
        account_prompt: agent-user
        secret_prompt: agent-pass
        invalid_prompt: auth-incorrect
        attempts: 3
        account_digits: 8
        secret_digits: 4
        next: after
        on_failure: unverified
      after:
        type: branch
        conditions:
          - when: {known: true, customer: {account: "12345678", segment: gold}, segment: gold}
            goto: gold_agents
        else: agents
      gold_agents: {type: route, skills: {billing: 5}, priority: 50, overflow: unverified}
      agents: {type: route, skills: {billing: 1}, overflow: unverified}
      unverified: {type: transfer, to: PJSIP/agent2}
"""
ROUTING = "skills: [billing, general]\n"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Dialplan:
    folder: Path = tmp_path_factory.mktemp("dialplans")
    (folder / "flows.yaml").write_text(FLOWS)
    (folder / "routing.yaml").write_text(ROUTING)
    loaded, warnings = load_dialplan(folder)
    assert warnings == []
    return loaded


@pytest.fixture(scope="module")
def repo_plan() -> Dialplan:
    loaded, warnings = load_dialplan(REPO_DIALPLANS)
    assert warnings == []
    return loaded


# --- an in-memory customer directory (the CustomerDirectory protocol of flow_engine) ----------------------------
@dataclass(frozen=True)
class Customer:
    id: str
    segment: str
    language: str
    account: str


@dataclass
class Directory:
    """Customers by account number with their secrets; records every lookup and verification."""

    secrets: dict[str, str]
    customers: dict[str, Customer]
    lookups: list[str] = field(default_factory=list)
    verifications: list[tuple[str, str]] = field(default_factory=list)

    async def find_by_account(self, account: str) -> Customer | None:
        self.lookups.append(account)
        return self.customers.get(account)

    async def verify(self, customer_id: str, secret: str) -> bool:
        self.verifications.append((customer_id, secret))
        return self.secrets.get(customer_id) == secret


def directory() -> Directory:
    return Directory(secrets={"c-42": "4321"},
                     customers={"12345678": Customer("c-42", "gold", "en", "12345678")})


# --- play ---------------------------------------------------------------------------------------------------------
def test_play_barge_in_answers_the_next_menu(plan: Dialplan) -> None:
    """With barge-in a key stops the play (its other prompts are skipped) and answers the menu after it."""
    result = simulate(plan, "barge", digits=["1"])
    assert result.prompts == ("hello-world",)
    assert result.events[:3] == ("answer", "play hello-world", "caller presses 1 (barge-in)")
    assert result.path == ("barge.intro", "barge.pick", "barge.one")


def test_play_without_barge_in_plays_to_the_end(plan: Dialplan) -> None:
    """With barge_in: false every prompt plays in full; the caller's key goes to the menu's own prompt."""
    result = simulate(plan, "no_barge", digits=["1"])
    assert result.prompts == ("hello-world", "beep", "demo-instruct")
    assert result.events[:4] == ("answer", "play hello-world", "play beep", "play demo-instruct")
    assert result.path[-1] == "no_barge.one"


def test_play_without_a_key_plays_every_prompt(plan: Dialplan) -> None:
    """No key during an interruptible play: all its prompts play, then the menu's prompt, then its wait."""
    result = simulate(plan, "barge", digits=["-"])
    assert result.prompts == ("hello-world", "beep", "demo-congrats", "demo-instruct")
    assert result.events[-2:] == ("no key within 5s", "hangup")
    assert result.path[-1] == "barge.two"


def test_a_play_of_several_prompts_is_one_input_opportunity(plan: Dialplan) -> None:
    """A three-prompt play is one chance to press a key (as one interruptible play on Asterisk), not three: the
    caller who hangs up at the second chance hears the whole play and hangs up during the menu's prompt."""
    result = simulate(plan, "barge", hangup_after=2)
    assert result.prompts == ("hello-world", "beep", "demo-congrats", "demo-instruct")
    assert result.events[-2:] == ("play demo-instruct", "caller hangs up")
    assert result.outcome == "abandoned"


def test_a_key_the_play_ignores_does_not_spend_a_prompt(plan: Dialplan) -> None:
    """A token `A1` during a play: A is ignored (the play goes on), 1 stops the whole play during its first
    prompt and answers the menu after it, one token for the play whatever its number of prompts."""
    result = simulate(plan, "barge", digits=["A1"])
    assert result.prompts == ("hello-world",)
    assert result.events[1:4] == ("play hello-world", "caller presses A (ignored by the prompt)",
                                  "caller presses 1 (barge-in)")
    assert result.path == ("barge.intro", "barge.pick", "barge.one")


# --- language -----------------------------------------------------------------------------------------------------
def test_language_choice_sets_the_channel_language(plan: Dialplan) -> None:
    """Key 2 selects French: CHANNEL(language) is set and later prompts and conditions use fr."""
    result = simulate(plan, "languages", digits=["2"])
    assert result.channel_variables["CHANNEL(language)"] == "fr"
    assert result.path == ("languages.lang", "languages.which", "languages.bonjour")
    assert result.prompts == ("vm-press", "au-revoir")


def test_language_invalid_key_asks_again(plan: Dialplan) -> None:
    """A key that is not a choice uses a retry; the next valid key selects the language."""
    result = simulate(plan, "languages", digits=["9", "2"])
    assert result.channel_variables["CHANNEL(language)"] == "fr"
    assert result.prompts == ("vm-press", "vm-press", "au-revoir")  # each key interrupts the first prompt


def test_language_silence_keeps_the_callers_language(plan: Dialplan) -> None:
    """Silence through every retry goes on with the language the call already had."""
    result = simulate(plan, "languages", digits=["-"] * 10, language="fr")
    assert "CHANNEL(language)" not in result.channel_variables
    assert result.path[-1] == "languages.bonjour"
    result = simulate(plan, "languages", digits=["-"] * 10)
    assert result.path[-1] == "languages.hello" and result.prompts[-1] == "vm-goodbye"


# --- set and voicemail --------------------------------------------------------------------------------------------
def test_set_stores_variables_for_conditions_and_the_channel(plan: Dialplan) -> None:
    """set writes each variable to the call (for `variable:` conditions) and as a channel variable."""
    result = simulate(plan, "setter")
    assert result.variables == {"topic": "billing", "priority_line": "1"}
    assert result.channel_variables["topic"] == "billing"
    assert result.channel_variables["priority_line"] == "1"
    assert result.path == ("setter.remember", "setter.check", "setter.mailbox")


def test_voicemail_ends_the_flow_in_the_mailbox(plan: Dialplan) -> None:
    """voicemail runs VoiceMail(mailbox,u) and ends the call as `voicemail`."""
    result = simulate(plan, "setter")
    assert result.outcome == "voicemail"
    assert result.destination == "voicemail:100@default"
    assert result.events[-1] == "VoiceMail(100@default,u)"
    assert result.intents == ("message",)


# --- hangup -------------------------------------------------------------------------------------------------------
def test_hangup_plays_its_prompts_in_full_then_hangs_up(plan: Dialplan) -> None:
    """hangup plays every prompt without barge-in, hangs up and counts the call as contained."""
    result = simulate(plan, "goodbye", digits=["5"])
    assert result.events == ("answer", "play vm-goodbye", "play beep", "hangup")
    assert result.outcome == "contained" and result.destination == "hangup"


def test_hangup_without_prompt(plan: Dialplan) -> None:
    """A hangup node without a prompt hangs up at once."""
    result = simulate(plan, "silent_goodbye")
    assert result.events == ("answer", "hangup")
    assert result.prompts == ()


# --- hours --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 7, 16, 8, 30, tzinfo=timezone.utc), "office.open_msg"),      # Thursday 10:30 in Paris
    (datetime(2026, 7, 16, 16, 30, tzinfo=timezone.utc), "office.closed_msg"),   # 18:30 in Paris
    (datetime(2026, 7, 14, 10, 0, tzinfo=timezone.utc), "office.holiday_msg"),   # Fête nationale (FR calendar)
    (datetime(2026, 7, 15, 10, 0, tzinfo=timezone.utc), "office.closed_msg"),    # a closure on a weekday
    (datetime(2026, 8, 14, 10, 0, tzinfo=timezone.utc), "office.closed_msg"),    # closure wins over a listed holiday
    (datetime(2026, 7, 13, 22, 30, tzinfo=timezone.utc), "office.holiday_msg"),  # already 14 July in Paris
])
def test_hours_country_holidays_and_closures(plan: Dialplan, moment: datetime, expected: str) -> None:
    """Opening hours in the node's time zone; a country holiday takes `holiday`, a closure takes `closed`."""
    assert simulate(plan, "office", at=moment).path[-1] == expected


def test_hours_subdivision_calendar_without_holiday_node(plan: Dialplan) -> None:
    """2 January is a bank holiday in Scotland only; without a `holiday` node it takes the closed path."""
    second_of_january = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)  # a Friday
    assert simulate(plan, "scotland", at=second_of_january).path[-1] == "scotland.closed_msg"
    ninth_of_january = datetime(2026, 1, 9, 12, 0, tzinfo=timezone.utc)
    assert simulate(plan, "scotland", at=ninth_of_january).path[-1] == "scotland.open_msg"


# --- identify -----------------------------------------------------------------------------------------------------
def test_identify_success_verifies_and_attaches_the_customer(plan: Dialplan) -> None:
    """Account then secret: confidence becomes verified, the customer (segment, account) is attached to the call."""
    customers = directory()
    result = simulate(plan, "verify", digits=["12345678#", "4321#"], customers=customers)
    assert result.path == ("verify.who", "verify.after", "verify.gold_agents")
    assert result.confidence == "verified" and result.customer_id == "c-42"
    assert result.channel_variables["SWITCHBOARD_CUSTOMER_ID"] == "c-42"
    assert result.channel_variables["SWITCHBOARD_CONFIDENCE"] == "verified"
    assert result.channel_variables["SWITCHBOARD_SEGMENT"] == "gold"
    assert result.prompts == ("agent-user", "agent-pass")
    assert customers.lookups == ["12345678"] and customers.verifications == [("c-42", "4321")]
    assert "customer:    c-42 (verified)" in result.report()


def test_identify_wrong_secret_then_success(plan: Dialplan) -> None:
    """A wrong secret plays the invalid prompt and asks for the secret again only (the account is kept)."""
    customers = directory()
    result = simulate(plan, "verify", digits=["12345678#", "0000#", "4321#"], customers=customers)
    assert result.confidence == "verified"
    assert result.prompts == ("agent-user", "agent-pass", "auth-incorrect", "agent-pass")
    assert customers.lookups == ["12345678"]
    assert customers.verifications == [("c-42", "0000"), ("c-42", "4321")]
    assert result.path[-1] == "verify.gold_agents"


def test_identify_attempts_exhausted_goes_to_on_failure(plan: Dialplan) -> None:
    """Three wrong secrets use up the attempts: on_failure, and the caller stays unverified."""
    result = simulate(plan, "verify", digits=["12345678#", "0000#", "1111#", "2222#"], customers=directory())
    assert result.path == ("verify.who", "verify.unverified")
    assert result.confidence == "none" and result.customer_id is None
    assert result.prompts.count("auth-incorrect") == 3
    assert "SWITCHBOARD_CUSTOMER_ID" not in result.channel_variables


def test_identify_unknown_account_uses_an_attempt(plan: Dialplan) -> None:
    """An unknown account plays the invalid prompt and asks for the account again."""
    customers = directory()
    result = simulate(plan, "verify", digits=["99999999#", "12345678#", "4321#"], customers=customers)
    assert customers.lookups == ["99999999", "12345678"]
    assert result.prompts == ("agent-user", "auth-incorrect", "agent-user", "agent-pass")
    assert result.confidence == "verified"


def test_identify_unknown_accounts_every_time_fail(plan: Dialplan) -> None:
    """Unknown accounts (and silence) in every attempt end at on_failure without asking for a secret."""
    customers = directory()
    result = simulate(plan, "verify", digits=["11111111#", "-", "22222222#"], customers=customers)
    assert result.path[-1] == "verify.unverified"
    assert "agent-pass" not in result.prompts
    assert customers.lookups == ["11111111", "22222222"] and customers.verifications == []


def test_identify_without_a_customer_store_fails_at_once(plan: Dialplan) -> None:
    """With no customer directory configured the identify node goes straight to on_failure."""
    result = simulate(plan, "verify", digits=["12345678#", "4321#"])
    assert result.path == ("verify.who", "verify.unverified")
    assert result.prompts == ()


# --- the repository's dialplans/main.yaml ------------------------------------------------------------------------
MONDAY_10_LONDON = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_main_billing_with_identify_and_verify(repo_plan: Dialplan) -> None:
    """An unrecognised caller presses 1 for billing, identifies and verifies, and reaches a billing agent."""
    result = simulate(repo_plan, "main", digits=["-", "1", "12345678#", "4321#", "1", "5"], at=MONDAY_10_LONDON,
                      caller="+442079460123", customers=directory())
    assert result.path == ("main.office_hours", "main.welcome", "main.choose_language", "main.recognised",
                           "main.main_menu", "main.billing", "main.billing_check", "main.verify_caller",
                           "main.verified", "main.billing_agents", "main.billing_resolved", "main.billing_rating",
                           "main.goodbye")
    assert result.outcome == "routed" and result.confidence == "verified"
    assert result.intents == ("billing", "identify")
    # the agent hung up first, so the caller heard the surveys: resolved (1 = yes) and a rating of 5
    assert result.variables == {"topic": "billing", "survey_resolved": "yes", "survey_csat": "5"}
    assert result.channel_variables["SWITCHBOARD_SKILLS"] == "billing:3"


def test_main_recognised_caller_skips_identify(repo_plan: Dialplan) -> None:
    """A caller recognised by caller ID (known) goes from billing straight to the agents."""
    result = simulate(repo_plan, "main", digits=["-", "1"], at=MONDAY_10_LONDON, known=True)
    assert "main.verify_caller" not in result.path
    assert result.path[-4:] == ("main.billing_agents", "main.billing_resolved", "main.billing_rating", "main.goodbye")


def test_main_french_support_case_through_the_subflow(repo_plan: Dialplan) -> None:
    """French (key 2 during the welcome), menu 2 goes to the support flow, a case number, French agents."""
    result = simulate(repo_plan, "main", digits=["2", "2", "1", "1234567#"], at=MONDAY_10_LONDON)
    assert result.path[-6:] == ("main.to_support", "support.support_topic", "support.support_menu",
                                "support.case_number", "support.support_language", "support.support_agents_fr")
    assert result.variables == {"topic": "support", "case_number": "1234567"}
    assert result.prompts == ("hello-world", "hello", "demo-instruct", "conf-getconfno")  # keys barge in
    assert result.intents == ("support", "existing_case")


def test_main_vip_overflows_to_the_menu_then_voicemail(repo_plan: Dialplan) -> None:
    """A VIP skips the menu; with no agent answering, overflow gives the menu, then sales overflows to voicemail."""
    result = simulate(repo_plan, "main", digits=["-", "3"], at=MONDAY_10_LONDON, segment="vip",
                      agents_answer=False)
    assert result.path[3:] == ("main.recognised", "main.vip_welcome", "main.vip_agents", "main.main_menu",
                               "main.sales", "main.leave_message")
    assert result.outcome == "voicemail" and result.destination == "voicemail:100@default"


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc), ("main.office_hours", "main.closed_message",
                                                          "main.leave_message")),   # Sunday
    (datetime(2026, 12, 25, 10, 0, tzinfo=timezone.utc), ("main.office_hours", "main.holiday_message")),
    (datetime(2026, 12, 31, 10, 0, tzinfo=timezone.utc), ("main.office_hours", "main.closed_message",
                                                          "main.leave_message")),   # closure
])
def test_main_outside_opening_hours(repo_plan: Dialplan, moment: datetime, expected: tuple[str, ...]) -> None:
    """Closed days take the message and voicemail; bank holidays the holiday message."""
    assert simulate(repo_plan, "main", at=moment).path == expected


def test_main_silence_reaches_the_operator(repo_plan: Dialplan) -> None:
    """A caller who never presses a key ends with the operator (on_no_input), who does not answer: fallback."""
    result = simulate(repo_plan, "main", digits=["-"] * 8, at=MONDAY_10_LONDON, agents_answer=False)
    assert result.path[-2:] == ("main.operator", "main.operator_desk")
    assert result.outcome == "fallback"
    assert result.channel_variables["SWITCHBOARD_STATUS"] == "FALLBACK"


def test_main_caller_hangs_up_during_identify(repo_plan: Dialplan) -> None:
    """A hang-up while the caller is asked for the secret ends the call as abandoned at that node."""
    # input opportunities: welcome (1, key 1: English), menu prompt (2, key 1), account prompt (3) and 8 waits
    # for the rest of 12345678#, then the secret prompt (12)
    result = simulate(repo_plan, "main", digits=["1", "1", "12345678#"], at=MONDAY_10_LONDON,
                      customers=directory(), hangup_after=12)
    assert result.outcome == "abandoned"
    assert result.path[-1] == "main.verify_caller"
    assert result.events[-2:] == ("play agent-pass", "caller hangs up")


# --- route nodes pick the agent routing.yaml would pick (issue 14, defect 2) -------------------------------------
def repo_agents(*away: str) -> RoutePreview:
    return RoutePreview(parse_routing(REPO_DIALPLANS / "routing.yaml"), away=away)


def test_route_rings_the_agent_routing_yaml_picks(repo_plan: Dialplan) -> None:
    """Menu 3 (sales>=2) rings agent3, the only sales agent of routing.yaml, not PJSIP/agent1; the report says
    which agent and why."""
    result = simulate(repo_plan, "main", digits=["-", "3"], at=MONDAY_10_LONDON, agents=repo_agents())
    assert result.destination == "agent:agent3" and result.outcome == "routed"
    assert "[0s] Dial(PJSIP/agent3,15,g)" in result.events
    assert result.routing == ("sales: agent3 (PJSIP/agent3): sales 6 (needs sales>=2), the only agent who fits",)
    assert "routing:     sales: agent3 (PJSIP/agent3)" in result.report()


def test_route_agents_who_do_not_answer_then_the_overflow(repo_plan: Dialplan) -> None:
    """Nobody answers: agent3 rings 15 s, then the `fast` profile adds general at 20 s (agent1, then agent2 ring),
    and at 60 s the call overflows to voicemail; each pick is reported."""
    result = simulate(repo_plan, "main", digits=["-", "3"], at=MONDAY_10_LONDON, agents=repo_agents(),
                      agents_answer=False)
    dials = [e for e in result.events if "Dial(" in e]
    assert dials == ["[0s] Dial(PJSIP/agent3,15,g)", "[20s] Dial(PJSIP/agent1,15,g)",
                     "[35s] Dial(PJSIP/agent2,15,g)"]
    assert result.path[-1] == "main.leave_message" and result.outcome == "voicemail"
    assert "[60s] VoiceMail(100@default,u)" in result.events
    assert result.routing[-1].endswith("relaxation fast overflows after 60 s in line: the caller goes to the "
                                       "node's overflow")


def test_route_when_no_agent_can_ever_take_the_call(tmp_path: Path) -> None:
    """No agent fits and the relaxation has no overflow step: the caller waits in line until they give up
    (PATIENCE simulated seconds), and the call is abandoned."""
    (tmp_path / "routing.yaml").write_text(
        "skills: [billing]\nrelaxation: {default: []}\n"
        "agents: {agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 2}, languages: [en]}}\n")
    (tmp_path / "main.yaml").write_text(
        "flows:\n  main:\n    start: queue\n    nodes:\n"
        "      queue: {type: route, skills: {billing: 5}, overflow: bye}\n      bye: {type: hangup}\n")
    plan, problems = load_dialplan(tmp_path)
    assert not problems
    result = simulate(plan, "main", agents=RoutePreview(parse_routing(tmp_path / "routing.yaml")))
    assert result.outcome == "abandoned"
    assert f"[{PATIENCE:g}s] caller hangs up after {PATIENCE:g} s in line (no agent can take the call)" \
        in result.events
    assert result.routing == ("billing: no agent fits billing>=5 (agent1 billing 2 < 5), and relaxation default "
                              "has no overflow step: the caller waits in line until they hang up",)


ANNOUNCED = ("flows:\n  main:\n    start: queue\n    nodes:\n"
             "      queue: {type: route, skills: {billing: 3}, overflow: bye, announce: {position: true, every: 600}}\n"
             "      bye: {type: hangup}\n")


def test_a_simulated_line_with_the_picked_agent(tmp_path: Path) -> None:
    """With announce and agents, the caller waits behind the simulated line, then the picked agent rings."""
    (tmp_path / "routing.yaml").write_text(
        "skills: [billing]\n"
        "agents: {agent7: {name: Ada, endpoint: PJSIP/agent7, skills: {billing: 4}, languages: [en]}}\n")
    (tmp_path / "main.yaml").write_text(ANNOUNCED)
    plan, _ = load_dialplan(tmp_path)
    result = simulate(plan, "main", line=SimulatedLine(position=2, answer_after=100),
                      agents=RoutePreview(parse_routing(tmp_path / "routing.yaml")))
    assert result.destination == "agent:agent7" and "[100s] Dial(PJSIP/agent7,15,g)" in result.events
    assert result.routing == ("billing: after 100 s in line: agent7 (PJSIP/agent7): billing 4 (needs billing>=3), "
                              "the only agent who fits",)


def test_a_simulated_line_whose_agent_never_answers_ends(tmp_path: Path) -> None:
    """A simulated line with --no-answer: the line's agent rings once, then the caller waits until they give up
    (this simulation used to run forever, offering the same agent again and again)."""
    (tmp_path / "routing.yaml").write_text("skills: [billing]\n")
    (tmp_path / "main.yaml").write_text(ANNOUNCED)
    plan, _ = load_dialplan(tmp_path)
    result = simulate(plan, "main", agents_answer=False)
    assert [e for e in result.events if "Dial(" in e] == ["[150s] Dial(PJSIP/agent1,15,g)"]
    assert result.outcome == "abandoned" and result.events[-1].startswith(f"[{PATIENCE:g}s] caller hangs up")
