"""Dialling a destination from a node (route to an endpoint, transfer) and reading how the dial ended."""
from __future__ import annotations

from switchboard.ivr import channel_variables
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.nodes.step import Step


async def dial(step: Step, endpoint: str, timeout: int) -> str:
    """Dials `endpoint` for `timeout` seconds; returns DIALSTATUS (ANSWER, NOANSWER, ...)."""
    step.state.destination = endpoint
    await step.send_variables()  # the call's unsent variables, before the dialplan takes over
    await step.channel.exec("Dial", endpoint, str(timeout), "g")  # g: the call goes on when the agent hangs up
    return await step.channel.get_variable(channel_variables.DIALSTATUS) or "UNKNOWN"


async def status_after_hangup(step: Step) -> str:
    """DIALSTATUS after the caller hung up during a dial (readable on a dead channel), else UNKNOWN."""
    try:
        return await step.channel.get_variable(channel_variables.DIALSTATUS) or "UNKNOWN"
    except CallerHungUp:
        return "UNKNOWN"
