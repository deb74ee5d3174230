"""The `play` node: plays prompts, then goes on; a key pressed meanwhile is kept for the next node (barge-in)."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr.nodes.field_checks import check_bool, check_prompts
from switchboard.ivr.flow_model import NO_PROMPTS, NodeSpec, Prompts, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition
from switchboard.ivr.nodes.prompting import play_prompts
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class PlayNode(NodeSpec):
    """The fields of a play node."""

    prompt: Prompts = NO_PROMPTS
    barge_in: bool = True
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next))


async def run(spec: PlayNode, step: Step) -> Next:
    digit = await play_prompts(step, spec.prompt, spec.barge_in)
    if digit:
        step.state.pending_digit = digit  # barge-in: the key belongs to the next menu
    return spec.next


DEFINITION = KindDefinition(
    name="play", spec_type=PlayNode, run=run, summary="Plays prompts, then goes on.", shape="ellipse",
    fields=(
        FieldRule("prompt", check_prompts, True, "prompts", note="required"),
        FieldRule("barge_in", check_bool, False, "true/false", default_doc="`true`",
                  note="a key pressed during the prompts stops them"),
        FieldRule("next", NODE, True, "node", note="required"),
    ))
