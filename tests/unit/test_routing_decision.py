"""The routing rules (router.decision) as tables, and routing.yaml's validation messages."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.router.decision import AgentView, CallView, best_agent, best_call, encode_steps, requirement
from switchboard.router.routing_config import RelaxStep, RoutingConfigError, parse_routing

STEPS = (RelaxStep(30, min_level=1), RelaxStep(90, add_skills=("general",)), RelaxStep(180, overflow=True))


def agent(aid: str, skills: dict[str, int], idle: float = 0.0, langs: tuple[str, ...] = ("en",),
          skip: float = 0.0) -> AgentView:
    return AgentView(aid, skills, langs, idle, skip)


POOL = [agent("ada", {"billing": 8, "general": 5}, idle=50), agent("bo", {"billing": 8}, idle=10),  # bo idle longer
        agent("cy", {"billing": 3, "sales": 6}, idle=5), agent("di", {"general": 9}, idle=1),
        agent("fr", {"billing": 10}, idle=0, langs=("fr",))]


@pytest.mark.parametrize("skills, language, waited, preferred, expected", [
    ({"billing": 5}, "", 0, "", "fr"),            # no language asked: the level-10 agent is best
    ({"billing": 5}, "fr", 0, "", "fr"),          # language filters
    ({"billing": 5}, "en", 0, "", "bo"),          # French-only is out; level 8 twice: bo has been idle longer
    ({"billing": 9}, "en", 0, "", None),          # nobody good enough yet
    ({"billing": 9}, "en", 40, "", "bo"),         # after 30 s any level >= 1 will do
    ({"sales": 9}, "en", 95, "", "cy"),           # after 30 s a lower sales level beats any added skill
    ({"support": 9}, "en", 95, "", "di"),         # after 90 s general is added: the best general level wins
    ({"billing": 5}, "en", 0, "cy", "bo"),        # the last agent is preferred only when able (cy is level 3)
    ({"billing": 3}, "en", 0, "cy", "cy"),          # ... and then even over better agents
    ({"billing": 3, "sales": 5}, "", 0, "", "cy"),  # every required skill must be met
])
def test_best_agent_table(skills: dict[str, int], language: str, waited: float, preferred: str,
                          expected: str | None) -> None:
    """Agent surplus: preferred agent, then best level in the first skill, then longest idle; relaxation widens."""
    call = CallView("c", skills, enqueued=1000.0, base=10, aging=0.5, language=language, steps=STEPS,
                    preferred=preferred)
    pool = [AgentView(a.id, a.skills, a.languages, a.idle_since + 900, a.skip_until) for a in POOL]
    got = best_agent(call, pool, now=1000.0 + waited)
    assert (got.id if got else None) == expected


def test_longest_idle_breaks_level_ties() -> None:
    """Two agents with the same level: the one idle for longer (earlier idle_since) gets the call."""
    pool = [agent("late", {"billing": 8}, idle=100), agent("early", {"billing": 8}, idle=20)]
    assert best_agent(CallView("c", {"billing": 1}, 0, 10, 0), pool, now=200).id == "early"


def test_skipped_agent_is_passed_over() -> None:
    """An agent serving a ring-no-answer penalty is not offered calls until it ends."""
    pool = [agent("sleepy", {"billing": 9}, skip=500), agent("ok", {"billing": 2})]
    assert best_agent(CallView("c", {"billing": 1}, 0, 10, 0), pool, now=400).id == "ok"
    assert best_agent(CallView("c", {"billing": 1}, 0, 10, 0), pool, now=600).id == "sleepy"


@pytest.mark.parametrize("now, expected", [(105.0, "vip"), (400.0, "standard")])
def test_best_call_uses_priority_with_aging(now: float, expected: str) -> None:
    """Call surplus: a later VIP outranks a standard caller, until the standard caller's aging catches up."""
    waiting = [CallView("standard", {"billing": 1}, enqueued=100.0, base=10, aging=1.0),
               CallView("vip", {"billing": 1}, enqueued=104.0, base=100, aging=0.0)]
    assert best_call(agent("a", {"billing": 5}), waiting, now).uid == expected


def test_best_call_skips_what_the_agent_cannot_serve_and_overflowed_calls() -> None:
    """A freed agent gets only calls it has the skills and language for, and never one past its overflow time."""
    waiting = [CallView("fr", {"billing": 1}, 0, 500, 0, language="fr"),
               CallView("sales", {"sales": 1}, 0, 400, 0),
               CallView("gone", {"billing": 1}, 0, 300, 0, steps=(RelaxStep(10, overflow=True),)),
               CallView("mine", {"billing": 1}, 0, 10, 0)]
    assert best_call(agent("a", {"billing": 5}), waiting, now=60).uid == "mine"


def test_requirement_applies_steps_in_time_order() -> None:
    """Steps apply once their time has passed: levels capped, skills added, then overflow."""
    call = CallView("c", {"billing": 6, "support": 2}, 0, 10, 0, steps=STEPS)
    assert requirement(call, 10).levels == {"billing": 6, "support": 2}
    assert requirement(call, 31).levels == {"billing": 1, "support": 1}
    assert requirement(call, 91).added == ("general",)
    assert not requirement(call, 179).overflow and requirement(call, 181).overflow
    assert encode_steps(STEPS) == "30|L|1;90|S|general;180|O|;"


GOOD = """\
skills: [billing, general]
segments: {vip: {priority: 100, aging: 1}, standard: {priority: 10}}
relaxation: {default: [{after: 30, min_level: 1}, {after: 60, overflow: true}]}
wrap_up: 5
ring_no_answer: {timeout: 10, action: pause, penalty: 0}
agents:
  a1: {name: Ada, endpoint: PJSIP/a1, skills: {billing: 8}, languages: [en]}
"""


def test_good_routing_config_loads(tmp_path: Path) -> None:
    """A valid routing.yaml gives its skills, segments, steps, ring-no-answer settings and agents."""
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    config = parse_routing(path)
    assert config.skills == {"billing", "general"}
    assert config.segment("vip").priority == 100 and config.segment("nope").priority == 10
    assert config.steps(None)[1].overflow and config.ring_action == "pause"
    assert config.agents["a1"].skills == {"billing": 8}


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("wrap_up: 5", "wrap_upp: 5"),
     "routing.yaml:4:1: error: unknown key 'wrap_upp' in routing.yaml (did you mean 'wrap_up'?)"),
    (GOOD.replace("{billing: 8}", "{biling: 8}"),
     "routing.yaml:7:48: error: agent 'a1' has skill 'biling', which `skills:` does not list (did you mean "
     "'billing'?)"),
    (GOOD.replace("{billing: 8}", "{billing: 11}"),
     "routing.yaml:7:48: error: `billing` = 11 is out of range: use 1 to 10"),
    (GOOD.replace("action: pause", "action: shout"),
     "routing.yaml:5:31: error: `action` must be one of skip, pause, got 'shout'"),
    (GOOD.replace("{after: 60, overflow: true}", "{after: 20, overflow: true}"),
     "routing.yaml:3:52: error: steps must be in increasing `after` order (20 follows 30)"),
    (GOOD.replace("PJSIP/a1", "SIP:a1"),
     "routing.yaml:7:19: error: agent 'a1' needs `endpoint` like PJSIP/a1, got 'SIP:a1'"),
])
def test_bad_routing_config_names_the_place(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake in routing.yaml is reported with file:line:column and what to do."""
    path = tmp_path / "routing.yaml"
    path.write_text(text)
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing(path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [message]


def test_pause_reasons_listed_or_defaulted(tmp_path: Path) -> None:
    """routing.yaml's `pause_reasons` is the desktop's list (duplicates dropped); without it, the defaults."""
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    assert parse_routing(path).pause_reasons == ("break", "lunch", "training", "meeting")
    path.write_text(GOOD + "pause_reasons: [lunch, coaching, lunch]\n")
    assert parse_routing(path).pause_reasons == ("lunch", "coaching")
    path.write_text(GOOD + "pause_reasons: [lunch, 'two words']\n")
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing(path)
    assert "'two words' is not a pause reason" in str(caught.value.problems[0])
