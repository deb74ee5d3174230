"""The `voicemail` node: leaves the caller in a voicemail box (its "unavailable" greeting)."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr.channel import AGICommandFailed
from switchboard.ivr.nodes.field_checks import check_text
from switchboard.ivr.flow_model import NodeSpec
from switchboard.ivr.nodes.kind import FieldRule, KindDefinition
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class VoicemailNode(NodeSpec):
    """The fields of a voicemail node."""

    ENDS = True

    mailbox: str = ""


async def run(spec: VoicemailNode, step: Step) -> Next:
    step.state.destination = f"voicemail:{spec.mailbox}"
    step.state.outcome = "voicemail"  # set first: a caller who hangs up after the beep still left a message
    await step.send_variables()  # the call's unsent variables, before the dialplan takes over
    try:
        await step.channel.exec("VoiceMail", spec.mailbox, "u")
    except AGICommandFailed:  # result=-2 (no such mailbox, no app): the fallback takes the call, no voicemail
        step.state.destination = None
        step.state.outcome = None
        raise
    return None


DEFINITION = KindDefinition(
    name="voicemail", spec_type=VoicemailNode, run=run, shape="doubleoctagon",
    summary="Leaves the caller in a voicemail box.",
    fields=(
        FieldRule("mailbox", check_text, True, "text: `mailbox@context` of voicemail.conf", note="required"),
    ))
