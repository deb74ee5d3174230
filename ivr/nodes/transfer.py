"""The `transfer` node: dials a fixed destination; unanswered, the Asterisk dialplan's fallback takes the caller."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr import channel_variables
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.nodes.field_checks import check_number, check_text
from switchboard.ivr.flow_model import NodeSpec
from switchboard.ivr.nodes.dialling import dial, status_after_hangup
from switchboard.ivr.nodes.kind import FieldRule, KindDefinition
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class TransferNode(NodeSpec):
    """The fields of a transfer node."""

    ENDS = True

    to: str = ""
    timeout: int = 30


async def run(spec: TransferNode, step: Step) -> Next:
    state = step.state
    await step.before_connect()
    try:
        status = await dial(step, spec.to, int(spec.timeout))
    except CallerHungUp:
        state.outcome = "transferred" if await status_after_hangup(step) == "ANSWER" else "abandoned"
        raise
    if status == "ANSWER":
        state.outcome = "transferred"
        step.options.queue.transferred(state.queue or "ivr")
    else:
        state.outcome = "fallback"  # never dead air: the dialplan's fallback rings a human
        await step.send_variables({channel_variables.STATUS: channel_variables.STATUS_FALLBACK})
    return None


def _label(spec: TransferNode) -> str:
    return f"\\n{spec.to}"


DEFINITION = KindDefinition(
    name="transfer", spec_type=TransferNode, run=run, shape="doubleoctagon", label=_label,
    summary="Dials a fixed destination (an operator desk, another site).",
    fields=(
        FieldRule("to", check_text, True, "text: a Dial string, e.g. `PJSIP/agent2`", note="required"),
        FieldRule("timeout", check_number(1, 600, integer=True), False, "whole seconds", "1–600", "30",
                  "ring time"),
    ))
