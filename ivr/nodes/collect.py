"""The `collect` node: reads a number (an account, a case number, ...) into a call and channel variable."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from switchboard.ivr.nodes.field_checks import (RETRIES, TIMEOUT, check_digit, check_name, check_number, check_pattern, check_prompts)
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Place, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.prompting import play_prompts, read_keys
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class CollectNode(NodeSpec):
    """The fields of a collect node."""

    WAITS = True

    prompt: Prompts = NO_PROMPTS
    variable: str = ""
    min_digits: int = 1
    max_digits: int = 16
    terminator: str = "#"
    pattern: str | None = None
    timeout: float = 5.0
    retries: int = 2
    invalid_prompt: Prompts | None = None
    next: str = ""
    on_failure: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next), ("on_failure", self.on_failure))


def check_digit_range(fields: Mapping[str, Any], places: Mapping[str, Place], place: Place, report: Report) -> None:
    """min_digits may not exceed max_digits (given or default)."""
    low, high = fields.get("min_digits", CollectNode.min_digits), fields.get("max_digits", CollectNode.max_digits)
    if low > high:
        report(places.get("min_digits", place), f"min_digits {low} is larger than max_digits {high}"
               f"{'' if 'max_digits' in fields else ' (the default)'}")


async def run(spec: CollectNode, step: Step) -> Next:
    terminator = spec.terminator
    for attempt in range(spec.retries + 1):
        keys = await read_keys(step, spec.prompt, spec.max_digits + 1, spec.timeout, spec.timeout, terminator)
        value = keys[:-1] if terminator and keys.endswith(terminator) else keys
        ok = (spec.min_digits <= len(value) <= spec.max_digits
              and (spec.pattern is None or re.fullmatch(spec.pattern, value) is not None))
        if ok:
            step.state.variables[spec.variable] = value
            step.state.unsent[spec.variable] = value  # sent with the call's next variables (CallState.unsent)
            return spec.next
        if attempt < spec.retries:
            await play_prompts(step, spec.invalid_prompt, False)
    return spec.on_failure


DEFINITION = KindDefinition(
    name="collect", spec_type=CollectNode, run=run, cross_check=check_digit_range,
    summary="Reads a number (an account, a case number, ...) into a variable.",
    fields=(
        FieldRule("prompt", check_prompts, True, "prompts", note="required; interruptible"),
        FieldRule("variable", check_name, True, "name", note="required; where the digits go"),
        FieldRule("min_digits", check_number(1, 32, integer=True), False, "whole number", "1–32", "1"),
        FieldRule("max_digits", check_number(1, 32, integer=True), False, "whole number", "1–32", "16",
                  "at least `min_digits`"),
        FieldRule("terminator", check_digit, False, "one key", "`0-9 * #`", '`"#"`',
                  "ends the input early; not part of the value"),
        FieldRule("pattern", check_pattern, False, "regular expression", default_doc="none",
                  note="the whole value must match (Python `re`)"),
        FieldRule("timeout", TIMEOUT, False, "seconds", "0.5–60", "5", "for the first key and between keys"),
        FieldRule("retries", RETRIES, False, "whole number", "0–10", "2"),
        FieldRule("invalid_prompt", check_prompts, False, "prompts", default_doc="none",
                  note="played before asking again"),
        FieldRule("next", NODE, True, "node", note="required"),
        FieldRule("on_failure", NODE, True, "node", note="required"),
    ))
