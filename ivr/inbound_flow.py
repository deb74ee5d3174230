"""The `inbound` call flow: answer, greet, take one menu digit, hand the caller to an agent.

This is the first flow, written in code; the YAML flow engine replaces it. It shows the contract every flow keeps:
the caller never hears dead air (no agent → apology → the dialplan's fallback rings a human), a caller hang-up at
any step ends the flow cleanly with its outcome recorded, and a failing call-context store never holds a caller up.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

from switchboard.ivr.channel import CallerHungUp, Channel

DIGITS = "0123456789*#"


class CallRecorder(Protocol):
    """Where the flow writes what happened to the call (the CTI call context store)."""

    async def record(self, uniqueid: str, fields: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class InboundOptions:
    """What the flow plays and whom it dials."""

    greeting: str
    digit_timeout: float
    agent_endpoint: str
    dial_timeout: int
    sorry_prompt: str


class InboundFlow:
    """One instance serves every call; per-call state lives in `run`'s locals."""

    def __init__(self, options: InboundOptions, recorder: CallRecorder, on_result: Callable[[str], None],
                 logger: logging.Logger, clock: Callable[[], float] = time.time) -> None:
        self._options = options
        self._recorder = recorder
        self._on_result = on_result
        self._log = logger
        self._clock = clock

    async def _record(self, uniqueid: str, fields: Mapping[str, str]) -> None:
        try:
            await self._recorder.record(uniqueid, fields)
        except Exception as exc:  # the store's trouble must never reach the caller
            self._log.warning("call %s: context not recorded (%s)", uniqueid, type(exc).__name__)

    async def __call__(self, channel: Channel) -> None:
        env = channel.env
        uid = env.uniqueid or "unknown"
        step = "answer"
        result = "failed"
        try:
            await channel.answer()
            await self._record(uid, {"state": "ivr", "flow": "inbound", "dnid": env.dnid or "",
                                     "caller": env.caller_id or "", "started_at": f"{self._clock():.3f}"})
            step = "greeting"
            digit = await channel.stream_file(self._options.greeting, escape_digits=DIGITS)
            if not digit:
                step = "menu"
                digit = await channel.wait_for_digit(int(self._options.digit_timeout * 1000))
            choice = digit or "none"
            await channel.set_variable("SWITCHBOARD_CHOICE", choice)
            await self._record(uid, {"choice": choice})
            step = "dial"
            await self._record(uid, {"state": "ringing", "agent_endpoint": self._options.agent_endpoint})
            await channel.exec("Dial", self._options.agent_endpoint, str(self._options.dial_timeout))
            status = await channel.get_variable("DIALSTATUS") or "UNKNOWN"
            await self._record(uid, {"dial_status": status})
            if status == "ANSWER":
                result = "connected"
                return
            result = "no_answer"
            step = "sorry"
            await channel.stream_file(self._options.sorry_prompt)
            # No agent answered: the dialplan's fallback rings everyone, then plays a message.
            await channel.set_variable("SWITCHBOARD_STATUS", "FALLBACK")
        except CallerHungUp:
            if step == "dial":  # the caller hung up while Dial ran: did the agent answer first?
                status = await self._dial_status(channel)
                await self._record(uid, {"dial_status": status})
                result = "connected" if status == "ANSWER" else "abandoned_ivr"
            elif result == "failed":
                result = "abandoned_ivr"
        finally:
            self._on_result(result)
            await self._record(uid, {"state": "ended", "result": result, "last_step": step,
                                     "ended_at": f"{self._clock():.3f}"})

    @staticmethod
    async def _dial_status(channel: Channel) -> str:
        """DIALSTATUS after a hang-up during Dial (readable on a dead channel); UNKNOWN if it cannot be read."""
        try:
            return await channel.get_variable("DIALSTATUS") or "UNKNOWN"
        except CallerHungUp:
            return "UNKNOWN"
