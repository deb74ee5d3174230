"""The typed call-context record: what is known about one call, from the IVR to the agent's screen pop.

The IVR writes it as the call moves (recognition, path, intents, queue, outcome); screen pops read it while the
agent's phone rings. It is encoded and decoded only in `cti.cti_store` (`save_call` / `read_call`); nothing here
does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CallState = Literal["ivr", "ended"]
CALL_STATES: tuple[CallState, ...] = ("ivr", "ended")
MAX_RECORDED_PATH = 200  # the newest nodes of a call's path that are kept (a looping flow stays bounded)


@dataclass(frozen=True)
class CallContext:
    """One call's context record, keyed by its Asterisk uniqueid."""

    uniqueid: str
    state: CallState = "ivr"
    flow: str = ""
    dialplan_version: str = ""
    caller: str = ""                  # caller ID as Asterisk gave it
    dnid: str = ""                    # the dialled number
    started_at: float = 0.0           # epoch seconds
    recognition: str = ""             # how the caller lookup went (cti.recognition.RESULTS)
    customer_id: str | None = None
    segment: str = ""
    confidence: str = "none"          # none, ani, verified
    last_node: str = ""
    path: tuple[str, ...] = ()        # flow nodes visited, oldest first
    intents: tuple[str, ...] = ()
    language: str = ""
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    destination: str | None = None
