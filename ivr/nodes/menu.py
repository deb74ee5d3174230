"""The `menu` node: plays a prompt and reads a choice of one or more keys, asking again after wrong keys or silence."""
from __future__ import annotations

import bisect

from dataclasses import dataclass, field
from typing import Any, Mapping

from switchboard.ivr.nodes.field_checks import DIGITS, RETRIES, TIMEOUT, check_number, check_prompts
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.yamldoc.problems import show as _show
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Place, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.prompting import play_prompts, read_keys
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class MenuNode(NodeSpec):
    """The fields of a menu node."""

    WAITS = True

    prompt: Prompts = NO_PROMPTS
    choices: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    inter_digit_timeout: float = 2.0
    retries: int = 2
    invalid_prompt: Prompts | None = None
    no_input_prompt: Prompts | None = None
    on_invalid: str | None = None
    on_no_input: str | None = None
    on_failure: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("on_failure", self.on_failure), ("on_invalid", self.on_invalid),
                            ("on_no_input", self.on_no_input), *(("choices", t) for t in self.choices.values()))

    def edge_label(self, key: str, target: str) -> str:
        if key == "choices":
            return ",".join(k for k, t in self.choices.items() if t == target)
        return key


MAX_CHOICES = 1_000  # every 3-key choice; more would be a directory, not a menu (and slow to check)


def check_choices(value: Any, place: Place, report: Report) -> Any:
    """Menu keys (one or more DTMF keys, none a prefix of another) → node names."""
    if not isinstance(value, dict) or not value:
        report(place, "expected a mapping of keys to nodes, e.g. {\"1\": sales, \"2\": support}")
        return None
    if len(value) > MAX_CHOICES:
        report(place, f"the menu has {len(value)} choices; the limit is {MAX_CHOICES}: split it into menus that "
                      "lead to each other")
        return None
    out: dict[str, str] = {}
    places: dict[str, Place] = {}
    for key, target in value.items():
        p = _place_of(value, key, place)
        keys = str(key)
        if isinstance(key, bool) or not keys or any(c not in DIGITS for c in keys):
            report(p, f"menu key {_show(key)} is not made of DTMF keys (0-9, * or #)")
            continue
        if keys in out:
            report(p, f"menu key {keys!r} is used twice: give each key one destination")
            continue
        if not isinstance(target, str):
            report(p, f"menu key {keys!r} must name a node, got {_show(target)}")
            continue
        out[keys] = target
        places[keys] = p
    order = {key: index for index, key in enumerate(out)}
    ordered = sorted(out)  # the keys a key is a prefix of follow it directly in sorted order
    for a in out:
        longer = []
        for b in ordered[bisect.bisect_right(ordered, a):]:
            if not b.startswith(a):
                break
            longer.append(b)
        for b in sorted(longer, key=order.__getitem__):
            report(places[a],
                   f"menu key {a!r} is a prefix of {b!r}: the caller could never reach {b!r} reliably; "
                   "make keys the same length")
    return out


async def run(spec: MenuNode, step: Step) -> Next:
    longest = max(len(k) for k in spec.choices)
    reason = "no_input"
    for attempt in range(spec.retries + 1):
        keys = await read_keys(step, spec.prompt, longest, spec.timeout, spec.inter_digit_timeout, None)
        if keys in spec.choices:
            return spec.choices[keys]
        reason = "invalid" if keys else "no_input"
        if attempt != spec.retries:
            await play_prompts(step, spec.invalid_prompt if reason == "invalid" else spec.no_input_prompt, False)
        step.event(reason)
    return (spec.on_invalid if reason == "invalid" else spec.on_no_input) or spec.on_failure


DEFINITION = KindDefinition(
    name="menu", spec_type=MenuNode, run=run, summary="Plays a prompt and reads a choice.",
    fields=(
        FieldRule("prompt", check_prompts, True, "prompts", note="required; interruptible"),
        FieldRule("choices", check_choices, True, "mapping key → node", range_doc="keys of `0-9 * #`",
                  note="required"),
        FieldRule("timeout", TIMEOUT, False, "seconds", "0.5–60", "5", "wait for the first key after the prompt"),
        FieldRule("inter_digit_timeout", check_number(0.2, 10), False, "seconds", "0.2–10", "2",
                  "wait for each further key of a multi-key choice"),
        FieldRule("retries", RETRIES, False, "whole number", "0–10", "2", "times the menu is asked again"),
        FieldRule("invalid_prompt", check_prompts, False, "prompts", default_doc="none",
                  note="played before asking again after a wrong key"),
        FieldRule("no_input_prompt", check_prompts, False, "prompts", default_doc="none",
                  note="played before asking again after silence"),
        FieldRule("on_invalid", NODE, False, "node", default_doc="`on_failure`",
                  note="where wrong keys on the last attempt go"),
        FieldRule("on_no_input", NODE, False, "node", default_doc="`on_failure`",
                  note="where silence on the last attempt goes"),
        FieldRule("on_failure", NODE, True, "node", note="required"),
    ))
