"""Playing prompts and reading the caller's keys: what every node that talks to the caller shares."""
from __future__ import annotations

from switchboard.ivr.flow_model import Prompts
from switchboard.ivr.nodes.step import Step

DTMF = "0123456789*#"  # the keys that may interrupt an interruptible prompt


async def play_prompts(step: Step, prompts: Prompts | None, interruptible: bool) -> str | None:
    """Plays the prompts for the call's language; returns the key that interrupted them, if any."""
    if prompts is None:
        return None
    for prompt in prompts.for_language(step.state.language):
        step.state.prompts.append(prompt)
        digit = await step.channel.stream_file(prompt, DTMF if interruptible else "")
        if digit:
            return digit
    return None


async def read_keys(step: Step, prompt: Prompts | None, longest: int, timeout: float, inter_digit: float,
                    terminator: str | None) -> str:
    """Plays the prompt (interruptible) and reads keys until `longest`, the terminator or a timeout.

    A key pressed ahead during an earlier `play` (barge-in) is the first key, and the prompt is skipped.
    """
    state = step.state
    keys = state.pending_digit or ""
    state.pending_digit = None
    if not keys:
        keys = await play_prompts(step, prompt, True) or ""
    if not keys:
        keys = await step.channel.wait_for_digit(int(timeout * 1000)) or ""
    while keys and len(keys) < longest and not (terminator and keys.endswith(terminator)):
        more = await step.channel.wait_for_digit(int(inter_digit * 1000))
        if not more:
            break
        keys += more
    return keys
