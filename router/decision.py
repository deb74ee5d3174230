"""The routing rules, written plainly: who may take a call, which agent a call gets, which call a free agent gets.

This is the specification. The Lua in router/lua/*.lua applies the same rules atomically inside Redis;
tests run both on the same cases, and the benchmark checks the Lua's picks against `best_agent` and `best_call` by
brute force. docs/router-indexes.md explains how the Lua finds the same picks without scanning.

- A call needs skills with minimum levels (and a language when given). After waiting, relaxation steps apply:
  `min_level` lowers every required level to at most that value; `add_skills` also accepts agents having any of
  those skills; `overflow` takes the call out of the queue.
- Agent surplus: the agent who last handled this customer, when free and able; else agents meeting the base skills,
  best level in the first-listed skill, then longest idle; else (after relaxation) agents with an added skill,
  best level in it, then longest idle
  (then agent id).
- Call surplus: the free agent gets the waiting call it can serve with the highest priority, where priority =
  segment priority + the route node's priority + aging × seconds waited; ties go to the longest wait.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from switchboard.router.routing_config import RelaxStep


@dataclass(frozen=True)
class AgentView:
    id: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    idle_since: float  # seconds
    skip_until: float = 0.0


@dataclass(frozen=True)
class CallView:
    uid: str
    skills: dict[str, int]  # insertion order matters: the first skill ranks agents
    enqueued: float  # seconds
    base: float  # segment priority + node priority
    aging: float
    language: str = ""
    steps: tuple[RelaxStep, ...] = ()
    preferred: str = ""


@dataclass(frozen=True)
class Requirement:
    levels: dict[str, int]
    added: tuple[str, ...] = ()
    overflow: bool = False
    relaxed: tuple[str, ...] = field(default=())


def requirement(call: CallView, waited: float) -> Requirement:
    levels = dict(call.skills)
    added: list[str] = []
    relaxed: list[str] = []
    overflow = False
    for step in call.steps:
        if step.after > waited:
            continue
        if step.min_level is not None:
            levels = {s: min(level, step.min_level) for s, level in levels.items()}
            relaxed.append(f"level>={step.min_level}")
        if step.add_skills:
            added.extend(step.add_skills)
            relaxed.append("+" + ",".join(step.add_skills))
        overflow = overflow or step.overflow
    return Requirement(levels, tuple(added), overflow, tuple(relaxed))


def fit(agent: AgentView, need: Requirement, language: str, now: float) -> tuple[int, int] | None:
    """(tier, level): tier 0 meets the base skills, tier 1 only an added skill; None when the agent cannot."""
    if agent.skip_until > now or (language and language not in agent.languages):
        return None
    if all(agent.skills.get(s, 0) >= level for s, level in need.levels.items()):
        first = next(iter(need.levels), None)
        return 0, agent.skills.get(first, 0) if first else 0
    added = [agent.skills[s] for s in need.added if agent.skills.get(s, 0) >= 1]
    return (1, max(added)) if added else None


def best_agent(call: CallView, idle: Iterable[AgentView], now: float) -> AgentView | None:
    """The agent this call gets among the available ones, or None."""
    need = requirement(call, now - call.enqueued)
    ranked: list[tuple[int, int, float, str, AgentView]] = []
    for agent in idle:
        got = fit(agent, need, call.language, now)
        if got is None:
            continue
        if agent.id == call.preferred:
            return agent
        ranked.append((got[0], -got[1], agent.idle_since, agent.id, agent))
    if not ranked:
        return None
    return min(ranked, key=lambda r: r[:4])[4]  # equal idle times: by id, as Redis orders equal scores


def priority(call: CallView, now: float) -> float:
    return call.base + call.aging * (now - call.enqueued)


def best_call(agent: AgentView, waiting: Sequence[CallView], now: float) -> CallView | None:
    """The waiting call a freed agent gets, or None."""
    best: CallView | None = None
    for call in waiting:
        need = requirement(call, now - call.enqueued)
        if need.overflow or fit(agent, need, call.language, now) is None:
            continue
        if best is None or (priority(call, now), -call.enqueued) > (priority(best, now), -best.enqueued):
            best = call
    return best


def encode_steps(steps: Iterable[RelaxStep]) -> str:
    """The compact form the Lua reads: `after|L|level;after|S|a,b;after|O|;`."""
    out = []
    for step in steps:
        if step.min_level is not None:
            out.append(f"{step.after:g}|L|{step.min_level};")
        if step.add_skills:
            out.append(f"{step.after:g}|S|{','.join(step.add_skills)};")
        if step.overflow:
            out.append(f"{step.after:g}|O|;")
    return "".join(out)


def encode_skills(skills: dict[str, int]) -> str:
    return ",".join(f"{s}:{level}" for s, level in skills.items())
