"""Which skill a multi-skill call waits under (router.call_router.index_skill): the rarest at the level asked."""
from __future__ import annotations

from switchboard.router.call_router import index_skill, levels_by_skill

AGENTS = [{"billing": 5, "sales": 3}, {"billing": 7}, {"billing": 2, "vip": 9}, {"billing": 8, "sales": 8}]


def test_the_skill_fewest_agents_have_at_the_level_asked_is_chosen() -> None:
    """sales at 5+ is held by one agent, billing at 1+ by four: the call waits under sales."""
    levels = levels_by_skill(AGENTS)
    assert index_skill(levels, {"billing": 1, "sales": 5}) == "sales"
    assert index_skill(levels, {"billing": 1, "vip": 1}) == "vip"


def test_the_first_skill_is_kept_on_ties_and_for_one_skill() -> None:
    """An empty answer means the first skill (one-skill calls, ties, the first already the rarest)."""
    levels = levels_by_skill(AGENTS)
    assert index_skill(levels, {"billing": 1}) == ""
    assert index_skill(levels, {"billing": 8, "sales": 8}) == ""  # one agent each: the first wins the tie
    assert index_skill(levels, {"vip": 1, "billing": 1}) == ""


def test_a_skill_no_agent_has_is_the_rarest() -> None:
    """Nobody has `fax`: the call waits under it (no freed agent ever reads it in vain)."""
    assert index_skill(levels_by_skill(AGENTS), {"billing": 1, "fax": 1}) == "fax"
