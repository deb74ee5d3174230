"""The `language` node: lets the caller choose the call's language with one key."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from switchboard.ivr import channel_variables
from switchboard.ivr.nodes.field_checks import RETRIES, TIMEOUT, check_digit, check_prompts
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.yamldoc.problems import show as _show
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Place, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.prompting import read_keys
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class LanguageNode(NodeSpec):
    """The fields of a language node."""

    WAITS = True

    prompt: Prompts = NO_PROMPTS
    choices: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 1
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next))


def check_choices(value: Any, place: Place, report: Report) -> Any:
    """One DTMF key each → a language code (en, fr_CA)."""
    if not isinstance(value, dict) or not value:
        report(place, "expected a mapping of keys to language codes, e.g. {\"1\": en, \"2\": fr}")
        return None
    out: dict[str, str] = {}
    for key, lang in value.items():
        p = _place_of(value, key, place)
        if check_digit(key, p, report) is None:
            continue
        if not isinstance(lang, str) or not re.match(r"^[a-z]{2}(_[A-Z]{2})?$", lang):
            report(p, f"{_show(lang)} is not a language code such as en or fr_CA")
            continue
        out[str(key)] = lang
    return out


async def run(spec: LanguageNode, step: Step) -> Next:
    for _ in range(spec.retries + 1):
        keys = await read_keys(step, spec.prompt, 1, spec.timeout, 1.0, None)
        if keys in spec.choices:
            chosen = spec.choices[keys]
            if chosen != step.state.language:  # the channel already speaks the call's language: no command
                step.state.language = chosen
                await step.send_variables({channel_variables.CHANNEL_LANGUAGE: chosen})
            break
    return spec.next


DEFINITION = KindDefinition(
    name="language", spec_type=LanguageNode, run=run, summary="Lets the caller choose a language.",
    fields=(
        FieldRule("prompt", check_prompts, True, "prompts", note="required; interruptible"),
        FieldRule("choices", check_choices, True, "mapping key → language",
                  range_doc="one key `0-9 * #` each; codes like `en`, `fr_CA`", note="required"),
        FieldRule("timeout", TIMEOUT, False, "seconds", "0.5–60", "5"),
        FieldRule("retries", RETRIES, False, "whole number", "0–10", "1"),
        FieldRule("next", NODE, True, "node", note="required"),
    ))
