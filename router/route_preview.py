"""What routing.yaml's agents would do with one call, and why: the agent it gets, or where it goes when none fits.

For `switchboard simulate`, which runs without Redis: the agents of routing.yaml, all logged in and idle alike
(unless named away), choose by the rules of router/decision.py, the readable specification the router's Lua
follows. A call no agent fits at first waits while the relaxation profile widens its requirement, step by step;
an `overflow` step sends it on, and without one it waits until the caller hangs up.

    preview = RoutePreview(parse_routing(Path("dialplans/routing.yaml")), away={"agent3"})
    pick = preview.pick({"billing": 3}, language="", relaxation=None)
    pick.agent, pick.endpoint, pick.reason  # "agent1", "PJSIP/agent1", "agent1 (PJSIP/agent1): billing 8 ..."
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Mapping

from switchboard.router.decision import AgentView, CallView, Requirement, best_agent, fit, requirement
from switchboard.router.routing_config import AgentSeed, RoutingConfig


@dataclass(frozen=True)
class Pick:
    """The agent a call gets after `after` seconds in line, or its overflow then; `after` None: never."""

    agent: str | None
    endpoint: str
    after: float | None
    overflow: bool
    reason: str


def _needs(need: Requirement, language: str, added: bool = True) -> str:
    text = ", ".join(f"{skill}>={level}" for skill, level in need.levels.items())
    if need.added and added:
        text += f" or any of {', '.join(need.added)}"
    return text + (f" speaking {language}" if language else "")


def _relaxed(profile: str, need: Requirement) -> str:
    return f" (relaxation {profile}: {', '.join(need.relaxed)})" if need.relaxed else ""


class RoutePreview:
    """routing.yaml's agents choosing for one call at a time (no Redis, no clock: moments are seconds in line)."""

    def __init__(self, config: RoutingConfig, away: Iterable[str] = ()) -> None:
        self._config = config
        self._away = frozenset(away)

    @property
    def ring_timeout(self) -> float:
        """Seconds an offered agent's phone rings before the call goes back in line (ring_no_answer.timeout)."""
        return self._config.ring_timeout

    def pick(self, skills: Mapping[str, int], language: str, relaxation: str | None, earliest: float = 0.0,
             passed: Collection[str] = ()) -> Pick:
        """The agent routing.yaml would give a call asking for `skills` (and `language`), offered no sooner than
        `earliest` seconds in line (a simulated line ahead of it); `passed` are agents who rang for this call
        without answering (not offered it again)."""
        profile = relaxation if relaxation in self._config.relaxation else "default"
        steps = self._config.steps(relaxation)
        call = CallView(uid="simulated", skills=dict(skills), enqueued=0.0, base=0.0, aging=0.0,
                        language=language, steps=steps)
        seeds = list(self._config.agents.values())
        free = [AgentView(a.id, dict(a.skills), a.languages, idle_since=0.0) for a in seeds
                if a.id not in self._away and a.id not in passed]
        first_refusal = ""
        need = requirement(call, 0.0)
        for moment in sorted({0.0, earliest, *(step.after for step in steps)}):
            need = requirement(call, moment)
            if need.overflow:
                if first_refusal:
                    before = first_refusal
                elif moment < earliest:
                    before = f"still behind other callers (the line ahead clears after {earliest:g} s)"
                else:
                    before = self._nobody(need, language, seeds, passed)
                return Pick(None, "", moment, True, f"{before}; relaxation {profile} overflows after {moment:g} s "
                                                    f"in line: the caller goes to the node's overflow")
            if moment < earliest:
                continue
            chosen = best_agent(call, free, moment)
            if chosen is None:
                first_refusal = first_refusal or self._nobody(need, language, seeds, passed)
                continue
            seed = self._config.agents[chosen.id]
            why = self._why(seed, need, language, free, moment)
            if moment > 0:
                why = f"after {moment:g} s in line{_relaxed(profile, need)}: {why}"
            if first_refusal:
                why = f"at first {first_refusal}; {why}"
            return Pick(seed.id, seed.endpoint, moment, False, why)
        return Pick(None, "", None, False,
                    f"{first_refusal or self._nobody(need, language, seeds, passed)}, and relaxation {profile} has "
                    f"no overflow step: the caller waits in line until they hang up")

    def _why(self, seed: AgentSeed, need: Requirement, language: str, free: list[AgentView], moment: float) -> str:
        fits = [(agent, got) for agent in free if (got := fit(agent, need, language, moment)) is not None]
        tier, level = next(got for agent, got in fits if agent.id == seed.id)
        first = next(iter(need.levels), "")
        if tier == 0:
            head = f"{seed.id} ({seed.endpoint}): {first} {level} (needs {_needs(need, language)})"
            rank = first
        else:
            skill = max((s for s in need.added if seed.skills.get(s, 0) >= 1), key=lambda s: seed.skills[s])
            head = (f"{seed.id} ({seed.endpoint}): {skill} {level}, a skill the relaxation added (no agent has "
                    f"{_needs(need, language, added=False)})")
            rank = "added-skill"
        peers = [(agent, got) for agent, got in fits if got[0] == tier]
        if len(peers) == 1:
            return head + ", the only agent who fits"
        listed = ", ".join(f"{agent.id} {got[1]}" for agent, got in peers)
        tied = sum(1 for _, got in peers if got[1] == level)
        tie = "; all idle alike, so the first by id" if tied > 1 else ""
        return f"{head}, the highest {rank} level of those who fit ({listed}){tie}"

    def _nobody(self, need: Requirement, language: str, seeds: list[AgentSeed], passed: Collection[str]) -> str:
        refusals = "; ".join(self._refusal(seed, need, language, passed) for seed in seeds)
        return f"no agent fits {_needs(need, language)} ({refusals or 'routing.yaml lists no agents'})"

    def _refusal(self, seed: AgentSeed, need: Requirement, language: str, passed: Collection[str]) -> str:
        if seed.id in self._away:
            return f"{seed.id} away"
        if seed.id in passed:
            return f"{seed.id} did not answer"
        if language and language not in seed.languages:
            return f"{seed.id} does not speak {language}"
        short = [f"{skill} {seed.skills[skill]} < {level}" if skill in seed.skills else f"no {skill}"
                 for skill, level in need.levels.items() if seed.skills.get(skill, 0) < level]
        return f"{seed.id} {', '.join(short)}" if short else f"{seed.id} fits"
