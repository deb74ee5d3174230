"""The callback desk's ports, kept by cti: the router's `CallbackDialer` as cti's AMI originator, and the agent's
screen pop for a callback as cti's pop of the original call plus what makes it a callback.

The desk (router) and the originator and screen pops (cti) each keep their own words; the translation is written
here, in the composition root, once.
"""
from __future__ import annotations

from typing import Any

from switchboard.cti.originate import CallbackLeg, CallbackOriginator
from switchboard.cti.screen_pop import AgentStreams, ScreenPops
from switchboard.router.callback_desk import CallbackCall, DialOutcome
from switchboard.router.callback_store import CallbackRecord


class OriginatingDialer:
    """The router's dialer port over cti's originator (AMI Originate by the originate-only user)."""

    def __init__(self, originator: CallbackOriginator) -> None:
        self._originator = originator

    async def dial(self, call: CallbackCall) -> DialOutcome:
        outcome = await self._originator.dial(CallbackLeg(call.request, call.agent_endpoint, call.number, call.order,
                                                          call.ring_seconds))
        return DialOutcome(outcome.first, outcome.second)


class CallbackPops:
    """The screen pop of a callback: the original call's pop (customer, IVR path, intents), kind `callback`, with
    the request, the number called and the attempt."""

    def __init__(self, pops: ScreenPops, streams: AgentStreams) -> None:
        self._pops = pops
        self._streams = streams

    async def __call__(self, agent: str, record: CallbackRecord, attempt: int) -> None:
        payload: dict[str, Any] = await self._pops.build("callback", agent, record.uid)
        payload["callback"] = {"request": record.id, "number": record.number, "attempt": attempt,
                               "max_attempts": record.max_attempts, "order": record.order,
                               "waiting_since_ms": record.enqueued_ms}
        self._streams.publish(agent, payload)
