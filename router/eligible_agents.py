"""How many agents could take a call, from a roster of the agents read at most once per `ttl` seconds.

Wait estimates ask, for every waiting call at entry and at each announcement, how many logged-in, unpaused agents
have the call's skills at the levels asked and speak its language. Reading every agent per estimate costs O(agents)
Redis commands each time (10,000 at 10,000 agents); instead the router process keeps one roster (state, skill
levels and languages of every agent), refreshed by one pipelined read when it is older than `ttl`, and counts per
requirement from it (remembered until the next refresh). Counts are therefore up to `ttl` seconds old: an agent who
logs in, logs out or pauses is seen by the estimates within `ttl`. Pure: the store reads Redis and hands the roster in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

NOT_WORKING = ("logged_out", "paused", "")


@dataclass(frozen=True)
class RosterEntry:
    """One agent as the count needs it: its state, skill levels and languages."""

    state: str
    levels: Mapping[str, int]
    languages: frozenset[str]


class EligibleAgents:
    """Counts of agents able to take a requirement, from a roster at most `ttl` seconds old."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._roster: list[RosterEntry] = []
        self._read_at: float | None = None
        self._counts: dict[tuple[tuple[tuple[str, int], ...], str], int] = {}

    def stale(self) -> bool:
        """True when the roster must be read again (never read, or older than `ttl`)."""
        return self._read_at is None or self._clock() - self._read_at >= self._ttl

    def replace(self, roster: list[RosterEntry]) -> None:
        """A fresh roster, read just now; forgets the counts made from the old one."""
        self._roster = roster
        self._read_at = self._clock()
        self._counts = {}

    def count(self, skills: Mapping[str, int], language: str) -> int:
        """Agents logged in and not paused with every skill at its level or more, speaking `language` ("" = any)."""
        key = (tuple(sorted(skills.items())), language)
        known = self._counts.get(key)
        if known is None:
            known = sum(1 for a in self._roster
                        if a.state not in NOT_WORKING and (not language or language in a.languages)
                        and all(a.levels.get(s, 0) >= level for s, level in skills.items()))
            self._counts[key] = known
        return known
