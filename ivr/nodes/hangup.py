"""The `hangup` node: plays a goodbye (not interruptible) and hangs up."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr.nodes.field_checks import check_prompts
from switchboard.ivr.flow_model import NodeSpec, Prompts
from switchboard.ivr.nodes.kind import FieldRule, KindDefinition
from switchboard.ivr.nodes.prompting import play_prompts
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class HangupNode(NodeSpec):
    """The fields of a hangup node."""

    ENDS = True

    prompt: Prompts | None = None


async def run(spec: HangupNode, step: Step) -> Next:
    state = step.state
    await play_prompts(step, spec.prompt, False)
    if state.outcome is None:  # a goodbye after the agent leg (e.g. a survey) keeps the call `routed`
        # after a queue sent the caller on (overflow) the IVR did not resolve the call: not `contained`
        state.outcome = "overflow" if state.queue else "contained"
        state.destination = "hangup"
    await step.send_variables()  # the call's unsent variables, while the channel can still take them
    await step.channel.hangup()
    return None


DEFINITION = KindDefinition(
    name="hangup", spec_type=HangupNode, run=run, shape="doubleoctagon",
    summary="Plays a goodbye and hangs up.",
    fields=(
        FieldRule("prompt", check_prompts, False, "prompts", note="optional; played in full (no barge-in)"),
    ))
