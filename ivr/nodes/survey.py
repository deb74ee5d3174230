"""The `survey` node: one question after the agent leg (resolved yes/no, or satisfaction 1-5) for FCR/CSAT."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr.nodes.field_checks import RETRIES, TIMEOUT, check_choice, check_prompts
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition
from switchboard.ivr.nodes.prompting import read_keys
from switchboard.ivr.nodes.step import Next, Step

# survey questions: the keys a caller may press and the answer each records
SURVEY_ANSWERS: dict[str, dict[str, str]] = {"resolved": {"1": "yes", "2": "no"},
                                             "csat": {d: d for d in "12345"}}


@dataclass(frozen=True)
class SurveyNode(NodeSpec):
    """The fields of a survey node."""

    WAITS = True

    question: str = ""
    prompt: Prompts = NO_PROMPTS
    timeout: float = 5.0
    retries: int = 1
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next))


async def run(spec: SurveyNode, step: Step) -> Next:
    """One question: a key of the scale records the answer; a key outside asks again; silence is no answer."""
    state = step.state
    valid = SURVEY_ANSWERS[spec.question]
    for _attempt in range(spec.retries + 1):
        keys = await read_keys(step, spec.prompt, 1, spec.timeout, 1.0, None)
        if keys in valid:
            answer = valid[keys]
            state.variables[f"survey_{spec.question}"] = answer
            step.options.resolution.survey(state.path[0].split(".", 1)[0] if state.path else "", spec.question, answer)
            return spec.next
        if not keys:
            break
    step.event("survey_unanswered")
    return spec.next


DEFINITION = KindDefinition(
    name="survey", spec_type=SurveyNode, run=run,
    summary="One question after the agent leg, for first-contact resolution and satisfaction.",
    fields=(
        FieldRule("question", check_choice(*SURVEY_ANSWERS), True, "`resolved` or `csat`",
                  note="required: `resolved` takes 1 (yes) or 2 (no); `csat` takes 1 (poor) to 5 (excellent)"),
        FieldRule("prompt", check_prompts, True, "prompts", note="required; the caller may answer while it plays"),
        FieldRule("timeout", TIMEOUT, False, "seconds", "0.5–60", "5", "wait for the key after the prompt"),
        FieldRule("retries", RETRIES, False, "whole number", "0–10", "1",
                  "asks again after a key outside the scale (silence ends the question)"),
        FieldRule("next", NODE, True, "node", note="required"),
    ))
