"""What a caller waiting in line is told, and when: the `announce` option of the route node.

    announce: {position: true, estimate: true, first_after: 0, every: 60, only: changed}

At `first_after` seconds in line (0: on entry, before the music starts) and then every `every` seconds (0: once),
the caller hears their place in line and/or the estimated wait, from prompts of Asterisk's core sounds played in
the channel's language (`queue-youarenext`, `queue-thereare` N `queue-callswaiting`, `queue-holdtime` N
`queue-minutes`), numbers said by SAY NUMBER. `only: changed` skips an announcement that would repeat the last
one; `only: improved` speaks only when the place or the estimate got better (the first is always spoken). An
unknown estimate (too little data) is left out. Pure logic: the wait loop (ivr/queue_wait.py) drives it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

from switchboard.ivr.flow_model import Place
from switchboard.ivr.nodes.kind import Report
from switchboard.yamldoc.positions import place_of
from switchboard.yamldoc.problems import show

ONLY = ("always", "changed", "improved")
KEYS = ("position", "estimate", "first_after", "every", "only")
MIN_EVERY = 10.0  # seconds: more often than this the caller hears little but announcements

# the prompts `phrases` plays (Asterisk core sounds; tests/e2e/test_queue_prompts.py finds each in every language
# the example dialplans use); numbers are said by SAY NUMBER in the channel's language
YOU_ARE_NEXT = "queue-youarenext"
THERE_ARE, CALLS_WAITING = "queue-thereare", "queue-callswaiting"
HOLD_TIME, LESS_THAN, MINUTE, MINUTES = "queue-holdtime", "queue-less-than", "queue-minute", "queue-minutes"
PROMPTS = frozenset({YOU_ARE_NEXT, THERE_ARE, CALLS_WAITING, HOLD_TIME, LESS_THAN, MINUTE, MINUTES})


@dataclass(frozen=True)
class AnnouncePlan:
    """The checked `announce` option."""

    position: bool = True
    estimate: bool = False
    first_after: float = 0.0
    every: float = 60.0
    only: str = "always"

    def due_at(self, count: int) -> float | None:
        """Seconds in line at which announcement number `count` (0 = first) is due; None when no more are."""
        if count > 0 and self.every <= 0:
            return None
        return self.first_after + count * self.every


@dataclass(frozen=True)
class Play:
    """Play one prompt."""

    prompt: str


@dataclass(frozen=True)
class SayNumber:
    """Say one number."""

    number: int


Phrase = Union[Play, SayNumber]


@dataclass(frozen=True)
class Heard:
    """What one announcement said (to compare the next with): position and whole minutes (None: not said)."""

    position: int | None
    minutes: int | None


def heard(plan: AnnouncePlan, position: int, seconds: float | None) -> Heard:
    """What an announcement for this place and estimate says under `plan`."""
    minutes = max(1, math.ceil(seconds / 60)) if seconds is not None and plan.estimate else None
    return Heard(position if plan.position else None, minutes)


def worth_saying(plan: AnnouncePlan, now: Heard, last: Heard | None) -> bool:
    """Whether `now` is spoken, after `last` (None: nothing said yet) under `plan.only`."""
    if now.position is None and now.minutes is None:
        return False
    if last is None or plan.only == "always":
        return True
    if plan.only == "changed":
        return now != last
    better_place = now.position is not None and last.position is not None and now.position < last.position
    better_wait = now.minutes is not None and (last.minutes is None or now.minutes < last.minutes)
    return better_place or better_wait


def phrases(now: Heard) -> list[Phrase]:
    """The prompts and numbers that say `now`."""
    out: list[Phrase] = []
    if now.position is not None:
        if now.position <= 1:
            out.append(Play(YOU_ARE_NEXT))
        else:
            out += [Play(THERE_ARE), SayNumber(now.position), Play(CALLS_WAITING)]
    if now.minutes is not None:
        out.append(Play(HOLD_TIME))
        if now.minutes <= 1:
            out += [Play(LESS_THAN), SayNumber(1), Play(MINUTE)]
        else:
            out += [SayNumber(now.minutes), Play(MINUTES)]
    return out


def check_announce(value: Any, place: Place, report: Report) -> Any:
    """The `announce` mapping of a route node → an AnnouncePlan (problems reported at each key's place)."""
    if not isinstance(value, dict):
        report(place, "expected a mapping such as {position: true, estimate: true, every: 60}, "
                      f"got {show(value)}")
        return None
    fields: dict[str, Any] = {}
    ok = True
    for key, item in value.items():
        p = place_of(value, key, place)
        if key not in KEYS:
            report(p, f"unknown announce option {show(key)}; use {', '.join(KEYS)}")
            ok = False
        elif key in ("position", "estimate"):
            if not isinstance(item, bool):
                report(p, f"{key}: expected true or false, got {show(item)}")
                ok = False
            else:
                fields[key] = item
        elif key == "only":
            if item not in ONLY:
                report(p, f"only: expected one of {', '.join(ONLY)}, got {show(item)}")
                ok = False
            else:
                fields[key] = item
        else:
            low = 0.0 if key == "first_after" else MIN_EVERY
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not (
                    low <= item <= 3600 or (key == "every" and item == 0)):
                allowed = "0 (once) or 10–3600" if key == "every" else "0–3600"
                report(p, f"{key}: expected seconds, {allowed}, got {show(item)}")
                ok = False
            else:
                fields[key] = float(item)
    if not ok:
        return None
    plan = AnnouncePlan(**fields)
    if not plan.position and not plan.estimate:
        report(place, "announce says nothing: set position: true and/or estimate: true")
        return None
    return plan
