"""The eligible-agent count from a roster read at most once per period."""
from __future__ import annotations

from switchboard.router.eligible_agents import EligibleAgents, RosterEntry


def _entry(state: str, levels: dict[str, int], *langs: str) -> RosterEntry:
    return RosterEntry(state, levels, frozenset(langs))


def test_counts_working_agents_with_every_skill_level_and_the_language() -> None:
    """Paused and logged-out agents, too-low levels, a missing skill or language are not counted."""
    eligible = EligibleAgents(5.0, lambda: 0.0)
    eligible.replace([_entry("available", {"billing": 5, "sales": 2}, "en"),
                      _entry("on_call", {"billing": 9}, "en", "fr"),
                      _entry("paused", {"billing": 9}, "en"), _entry("logged_out", {"billing": 9}, "en"),
                      _entry("wrap_up", {"billing": 2}, "en"), _entry("reserved", {"billing": 7}, "fr")])
    assert eligible.count({"billing": 3}, "en") == 2
    assert eligible.count({"billing": 3}, "") == 3
    assert eligible.count({"billing": 3, "sales": 1}, "en") == 1
    assert eligible.count({}, "fr") == 2


def test_stale_only_after_the_period_and_a_new_roster_forgets_old_counts() -> None:
    """A roster is fresh for `ttl` seconds of the clock; replacing it drops the counts remembered from the old one."""
    now = [100.0]
    eligible = EligibleAgents(5.0, lambda: now[0])
    assert eligible.stale()
    eligible.replace([_entry("available", {"billing": 5}, "en")])
    now[0] = 104.9
    assert not eligible.stale() and eligible.count({"billing": 1}, "en") == 1
    now[0] = 105.0
    assert eligible.stale()
    eligible.replace([])
    assert eligible.count({"billing": 1}, "en") == 0
