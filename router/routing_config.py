"""Reading and validating `dialplans/routing.yaml`: skills, segment priorities, relaxation profiles, agents.

Every message names `file:line:column`, says what is wrong and what would fix it, like the flow validator's.
The result is an immutable RoutingConfig; a reload swaps it whole or not at all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml.comments import CommentedMap

from switchboard.yamldoc import DocumentError, Place, Problem, parse, place_of, show, suggest

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_ENDPOINT = re.compile(r"^(PJSIP|SIP|IAX2|Local|DAHDI)/[A-Za-z0-9_@.+-]{1,80}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z]{2,4})?$")
TOP_KEYS = ("skills", "segments", "relaxation", "wrap_up", "ring_no_answer", "last_agent_days", "agents",
            "pause_reasons")
PAUSE_REASONS = ("break", "lunch", "training", "meeting")
RING_ACTIONS = ("skip", "pause")


class RoutingConfigError(DocumentError):
    """routing.yaml has errors; `problems` lists each (its str() is `file:line:column: error: message`)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, "routing.yaml")


@dataclass(frozen=True)
class Segment:
    priority: float
    aging: float  # priority points per second waited


@dataclass(frozen=True)
class RelaxStep:
    after: float
    min_level: int | None = None
    add_skills: tuple[str, ...] = ()
    overflow: bool = False


@dataclass(frozen=True)
class AgentSeed:
    id: str
    name: str
    endpoint: str
    skills: dict[str, int]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class RoutingConfig:
    skills: frozenset[str]
    segments: dict[str, Segment]
    relaxation: dict[str, tuple[RelaxStep, ...]]
    wrap_up: float = 5.0
    ring_timeout: float = 15.0
    ring_action: str = "skip"
    ring_penalty: float = 60.0
    last_agent_days: float = 7.0
    agents: dict[str, AgentSeed] = field(default_factory=dict)
    pause_reasons: tuple[str, ...] = PAUSE_REASONS  # what an agent's desktop offers when pausing

    def segment(self, name: str | None) -> Segment:
        """The named segment, or the lowest-priority one for an unknown name (never a crash on odd data)."""
        if name and name in self.segments:
            return self.segments[name]
        if not self.segments:
            return Segment(0.0, 0.0)
        return min(self.segments.values(), key=lambda s: s.priority)

    def steps(self, profile: str | None) -> tuple[RelaxStep, ...]:
        return self.relaxation.get(profile or "default", self.relaxation.get("default", ()))


class _Reader:
    """Collects the problems of one routing.yaml, each at the place of the key or item it is about."""

    def __init__(self, path: str) -> None:
        self.top = Place(path, 1, 1)
        self.problems: list[Problem] = []

    def where(self, parent: Any, key: Any) -> Place:
        return place_of(parent, key, self.top)

    def error(self, place: Place, message: str) -> None:
        self.problems.append(Problem(place, message))

    def number(self, parent: Any, key: Any, low: float, high: float, integer: bool = False) -> float | None:
        value = parent[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            self.error(self.where(parent, key), f"`{key}` expects {'a whole number' if integer else 'a number'} "
                                                f"from {low:g} to {high:g}, got {show(value)}")
            return None
        if not low <= value <= high:
            self.error(self.where(parent, key), f"`{key}` = {value} is out of range: use {low:g} to {high:g}")
            return None
        return float(value)

    def keys(self, mapping: Any, allowed: tuple[str, ...], what: str) -> bool:
        if not isinstance(mapping, dict):
            return False
        good = True
        for key in mapping:
            if key not in allowed:
                self.error(self.where(mapping, key),
                           f"unknown key {show(key)} in {what}{suggest(str(key), allowed, list_choices=True)}")
                good = False
        return good


def parse_routing(path: Path, raw: bytes | None = None) -> RoutingConfig:
    """Reads routing.yaml; raises RoutingConfigError listing every problem."""
    r = _Reader(str(path))
    try:
        doc = parse(raw if raw is not None else path.read_bytes(), str(path))
    except DocumentError as exc:
        raise RoutingConfigError(exc.problems) from None
    except OSError as exc:
        raise RoutingConfigError([Problem(r.top, f"cannot read the file ({exc.strerror or exc})")]) from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict):
        raise RoutingConfigError([Problem(r.top, f"expected a mapping with keys {', '.join(TOP_KEYS)}")])
    r.keys(doc, TOP_KEYS, "routing.yaml")
    skills = _read_skills(r, doc)
    segments = _read_segments(r, doc)
    relaxation = _read_relaxation(r, doc, skills)
    values: dict[str, Any] = {}
    for key, low, high in (("wrap_up", 0, 3600), ("last_agent_days", 0, 365)):
        if key in doc:
            values[key] = r.number(doc, key, low, high)
    ring = doc.get("ring_no_answer")
    if ring is not None:
        if not isinstance(ring, dict):
            r.error(r.where(doc, "ring_no_answer"), "expected {timeout: seconds, action: skip|pause, penalty: s}")
        elif r.keys(ring, ("timeout", "action", "penalty"), "ring_no_answer"):
            if "timeout" in ring:
                values["ring_timeout"] = r.number(ring, "timeout", 3, 300)
            if "penalty" in ring:
                values["ring_penalty"] = r.number(ring, "penalty", 0, 86400)
            if "action" in ring:
                if ring["action"] not in RING_ACTIONS:
                    r.error(r.where(ring, "action"), f"`action` must be one of {', '.join(RING_ACTIONS)}, got "
                                                     f"{show(ring['action'])}")
                else:
                    values["ring_action"] = ring["action"]
    agents = _read_agents(r, doc, skills)
    reasons = _read_pause_reasons(r, doc)
    if r.problems:
        raise RoutingConfigError(r.problems)
    return RoutingConfig(skills=frozenset(skills), segments=segments, relaxation=relaxation, agents=agents,
                         pause_reasons=reasons, **{k: v for k, v in values.items() if v is not None})


def _read_pause_reasons(r: _Reader, doc: Any) -> tuple[str, ...]:
    listed = doc.get("pause_reasons")
    if listed is None:
        return PAUSE_REASONS
    if not isinstance(listed, list) or not listed:
        r.error(r.where(doc, "pause_reasons"), "`pause_reasons` expects a list of short names, e.g. [break, lunch]")
        return PAUSE_REASONS
    out: list[str] = []
    for i, reason in enumerate(listed):
        if not isinstance(reason, str) or not _NAME.match(reason) or len(reason) > 32:
            r.error(r.where(listed, i), f"{show(reason)} is not a pause reason (letters, digits, _ or -, 32 at most)")
        elif reason not in out:
            out.append(reason)
    return tuple(out)


def _read_skills(r: _Reader, doc: Any) -> set[str]:
    listed = doc.get("skills")
    if listed is None:
        r.error(r.where(doc, next(iter(doc), None)),
                "`skills:` is missing: list the skills agents can have, e.g. skills: [billing, support]")
        return set()
    if not isinstance(listed, list):
        r.error(r.where(doc, "skills"), "`skills` expects a list of names, e.g. [billing, support]")
        return set()
    skills: set[str] = set()
    for i, skill in enumerate(listed):
        if not isinstance(skill, str) or not _NAME.match(skill):
            r.error(r.where(listed, i), f"{show(skill)} is not a skill name (letters, digits, _ or -)")
        elif skill in skills:
            r.error(r.where(listed, i), f"skill {skill!r} is listed twice")
        else:
            skills.add(skill)
    return skills


def _read_segments(r: _Reader, doc: Any) -> dict[str, Segment]:
    table = doc.get("segments")
    if table is None:
        return {"standard": Segment(10.0, 0.5)}
    if not isinstance(table, dict) or not table:
        r.error(r.where(doc, "segments"), "`segments` expects {name: {priority: 0-1000, aging: 0-100}}")
        return {}
    out: dict[str, Segment] = {}
    for name, body in table.items():
        if not isinstance(name, str) or not _NAME.match(name):
            r.error(r.where(table, name), f"{show(name)} is not a segment name")
            continue
        if not isinstance(body, dict) or not r.keys(body, ("priority", "aging"), f"segment {name!r}"):
            if not isinstance(body, dict):
                r.error(r.where(table, name), f"segment {name!r} expects {{priority: 0-1000, aging: 0-100}}")
            continue
        if "priority" not in body:
            r.error(r.where(table, name), f"segment {name!r} needs `priority`")
            continue
        priority = r.number(body, "priority", 0, 1000)
        aging = r.number(body, "aging", 0, 100) if "aging" in body else 0.0
        if priority is not None and aging is not None:
            out[name] = Segment(priority, aging)
    return out


def _read_relaxation(r: _Reader, doc: Any, skills: set[str]) -> dict[str, tuple[RelaxStep, ...]]:
    table = doc.get("relaxation")
    if table is None:
        return {"default": ()}
    if not isinstance(table, dict):
        r.error(r.where(doc, "relaxation"), "`relaxation` expects {profile: [{after: s, ...}, ...]}")
        return {}
    out: dict[str, tuple[RelaxStep, ...]] = {}
    for name, steps in table.items():
        if not isinstance(steps, list):
            r.error(r.where(table, name), f"relaxation profile {name!r} expects a list of steps")
            continue
        parsed: list[RelaxStep] = []
        last = -1.0
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or "after" not in step:
                r.error(r.where(steps, i), "a step is {after: seconds, min_level: 1-10 | add_skills: [...] | "
                                           "overflow: true}")
                continue
            if not r.keys(step, ("after", "min_level", "add_skills", "overflow"), "a relaxation step"):
                continue
            after = r.number(step, "after", 0, 86400)
            if after is None:
                continue
            if after <= last:
                r.error(r.where(step, "after"), f"steps must be in increasing `after` order ({after:g} follows "
                                                f"{last:g})")
                continue
            last = after
            level = r.number(step, "min_level", 1, 10, integer=True) if "min_level" in step else None
            added: list[str] = []
            for j, skill in enumerate(step.get("add_skills") or []):
                if skill not in skills:
                    r.error(r.where(step["add_skills"], j), f"skill {skill!r} is not in `skills:`"
                                                            f"{suggest(str(skill), sorted(skills))}")
                else:
                    added.append(skill)
            overflow = step.get("overflow", False)
            if not isinstance(overflow, bool):
                r.error(r.where(step, "overflow"), "`overflow` expects true or false")
                overflow = False
            parsed.append(RelaxStep(after, int(level) if level is not None else None, tuple(added), overflow))
        out[str(name)] = tuple(parsed)
    out.setdefault("default", ())
    return out


def _read_agents(r: _Reader, doc: Any, skills: set[str]) -> dict[str, AgentSeed]:
    table = doc.get("agents")
    if table is None:
        return {}
    if not isinstance(table, dict):
        r.error(r.where(doc, "agents"), "`agents` expects {id: {name, endpoint, skills, languages}}")
        return {}
    out: dict[str, AgentSeed] = {}
    for agent_id, body in table.items():
        place = r.where(table, agent_id)
        if not isinstance(agent_id, str) or not _NAME.match(agent_id):
            r.error(place, f"{show(agent_id)} is not an agent id (letters, digits, _ or -)")
            continue
        if not isinstance(body, dict):
            r.error(place, f"agent {agent_id!r} expects {{name, endpoint, skills, languages}}")
            continue
        if not r.keys(body, ("name", "endpoint", "skills", "languages"), f"agent {agent_id!r}"):
            continue
        seed = _agent(r, agent_id, body, place, skills)
        if seed is not None:
            out[agent_id] = seed
    return out


def _agent(r: _Reader, agent_id: str, body: Any, place: Place, skills: set[str]) -> AgentSeed | None:
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
        r.error(r.where(body, "endpoint") if "endpoint" in body else place,
                f"agent {agent_id!r} needs `endpoint` like PJSIP/{agent_id}, got {show(endpoint)}")
        return None
    levels = body.get("skills")
    if not isinstance(levels, dict) or not levels:
        r.error(r.where(body, "skills") if "skills" in body else place,
                f"agent {agent_id!r} needs `skills` as {{skill: level 1-10}}")
        return None
    good: dict[str, int] = {}
    for skill in levels:
        if skill not in skills:
            r.error(r.where(levels, skill), f"agent {agent_id!r} has skill {skill!r}, which `skills:` does not "
                                            f"list{suggest(str(skill), sorted(skills))}")
            continue
        level = r.number(levels, skill, 1, 10, integer=True)
        if level is not None:
            good[skill] = int(level)
    languages = body.get("languages", ["en"])
    if not isinstance(languages, list) or not all(isinstance(x, str) and _LANGUAGE.match(x) for x in languages):
        r.error(r.where(body, "languages"), "`languages` expects a list of language codes, e.g. [en, fr]")
        languages = []
    name = body.get("name", agent_id)
    if not isinstance(name, str) or any(c in name for c in "\r\n\0"):
        r.error(r.where(body, "name"), "`name` expects a single line of text")
        name = agent_id
    if len(good) != len(levels):
        return None
    return AgentSeed(agent_id, name, endpoint, good, tuple(languages))


def check_route_nodes(config: RoutingConfig, relaxation_names: list[tuple[Place, str]],
                      report: Callable[[Problem], None]) -> None:
    """Reports route nodes naming a relaxation profile routing.yaml lacks (`(place, name)` pairs)."""
    for place, name in relaxation_names:
        if name not in config.relaxation:
            report(Problem(place, f"relaxation profile {name!r} is not defined in routing.yaml"
                                  f"{suggest(name, sorted(config.relaxation))}"))


def load_routing(folder: Path) -> RoutingConfig | None:
    """routing.yaml of a dialplans folder (None when the folder has none: routing by skills is then off)."""
    path = folder / "routing.yaml" if folder.is_dir() else folder.parent / "routing.yaml"
    return parse_routing(path) if path.exists() else None
