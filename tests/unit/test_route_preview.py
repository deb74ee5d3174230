"""router.route_preview: the agent routing.yaml's agents would give one call (router/decision.py's rules), and why."""
from __future__ import annotations

from switchboard.router.route_preview import RoutePreview
from switchboard.router.routing_config import AgentSeed, RelaxStep, RoutingConfig, Segment


def config(*, overflow: bool = True) -> RoutingConfig:
    steps = [RelaxStep(after=30, min_level=1), RelaxStep(after=90, add_skills=("general",))]
    if overflow:
        steps.append(RelaxStep(after=180, overflow=True))
    agents = {
        "agent1": AgentSeed("agent1", "Ada", "PJSIP/agent1", {"billing": 8, "general": 5}, ("en",)),
        "agent2": AgentSeed("agent2", "Bo", "PJSIP/agent2", {"support": 7, "general": 5}, ("en", "fr")),
        "agent3": AgentSeed("agent3", "Cy", "PJSIP/agent3", {"sales": 6, "billing": 3, "general": 4}, ("en",)),
    }
    return RoutingConfig(skills=frozenset({"billing", "support", "sales", "general"}),
                         segments={"standard": Segment(10, 0.5)}, relaxation={"default": tuple(steps)},
                         agents=agents)


def test_the_highest_level_in_the_first_skill_wins_at_once() -> None:
    """billing>=3: agent1 (billing 8) beats agent3 (billing 3), at once; the reason names both levels."""
    pick = RoutePreview(config()).pick({"billing": 3}, "", None)
    assert (pick.agent, pick.endpoint, pick.after, pick.overflow) == ("agent1", "PJSIP/agent1", 0.0, False)
    assert pick.reason == ("agent1 (PJSIP/agent1): billing 8 (needs billing>=3), the highest billing level of "
                           "those who fit (agent1 8, agent3 3)")


def test_equal_levels_go_to_the_first_by_id() -> None:
    """All idle alike: general 5 ties between agent1 and agent2 go to agent1, and the reason says so."""
    pick = RoutePreview(config()).pick({"general": 1}, "", None)
    assert pick.agent == "agent1" and pick.reason.endswith("all idle alike, so the first by id")


def test_language_and_away_agents_are_respected() -> None:
    """Support in French goes to agent2 (speaks fr); with agent2 away nobody fits until a relaxation step adds
    general, which agent1 and agent3 have but do not speak French: the call overflows after 180 s."""
    assert RoutePreview(config()).pick({"support": 3}, "fr", None).agent == "agent2"
    pick = RoutePreview(config(), away={"agent2"}).pick({"support": 3}, "fr", None)
    assert (pick.agent, pick.after, pick.overflow) == (None, 180.0, True)
    assert pick.reason.startswith("no agent fits support>=3 speaking fr (agent1 does not speak fr; agent2 away; "
                                  "agent3 does not speak fr)")
    assert "overflows after 180 s" in pick.reason


def test_relaxation_lets_a_lower_level_take_the_call_later() -> None:
    """billing>=6 with agent1 away: agent3 (billing 3) fits once the 30 s step lowers levels to 1."""
    pick = RoutePreview(config(), away={"agent1"}).pick({"billing": 6}, "", None)
    assert (pick.agent, pick.after) == ("agent3", 30.0)
    assert pick.reason.startswith("at first no agent fits billing>=6 (agent1 away; agent2 no billing; "
                                  "agent3 billing 3 < 6); after 30 s in line (relaxation default: level>=1): agent3")


def test_without_an_overflow_step_the_caller_waits_until_they_hang_up() -> None:
    """Nobody ever fits and the profile has no overflow step: no agent, no overflow, never (after None)."""
    pick = RoutePreview(config(overflow=False), away={"agent1", "agent2", "agent3"}).pick({"billing": 3}, "", None)
    assert (pick.agent, pick.after, pick.overflow) == (None, None, False)
    assert pick.reason.endswith("no overflow step: the caller waits in line until they hang up")


def test_agents_who_did_not_answer_and_a_line_ahead() -> None:
    """An agent who rang without answering is not offered the call again; behind a line that clears after 200 s
    the call overflows at 180 s although agents fit."""
    assert RoutePreview(config()).pick({"billing": 3}, "", None, passed=("agent1",)).agent == "agent3"
    pick = RoutePreview(config()).pick({"billing": 3}, "", None, earliest=200.0)
    assert (pick.agent, pick.after, pick.overflow) == (None, 180.0, True)
    assert pick.reason.startswith("still behind other callers")
