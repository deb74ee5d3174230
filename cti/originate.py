"""Callbacks placed through AMI Originate, by a user whose only right is to originate into one dialplan context.

The service logs in a second AMI user for this (the `callbacks` settings section; `manager_switchboard.conf`'s
`[switchboard-originate]`: `read=` nothing, `write=originate`), so the main user keeps no `originate` right. Every
origination goes to the context `switchboard-callback` (`extensions_switchboard.conf`) with the request id as the
extension; the context dials the second leg itself from channel variables it filters (the number on the callback
trunk, or the agent's device), and reports that leg's `DIALSTATUS` in a `UserEvent(SwitchboardCallback)` when the
call ends. The first leg's result is Asterisk's `OriginateResponse` (`Reason` 4 answered, 5 busy, 3 or 1 no
answer, else failed), read on the main AMI connection (the originate user reads no events), matched on the
extension. Values are checked before they reach AMI: no CR, LF or NUL ever, and each field to its own alphabet.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Mapping, Protocol

CONTEXT = "switchboard-callback"
REQUEST_EVENT = "SwitchboardCallback"
REASONS = {"4": "answered", "5": "busy", "3": "no-answer", "1": "no-answer", "8": "failed", "0": "failed"}
DIAL_STATUSES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no-answer", "CANCEL": "no-answer"}
_REQUEST = re.compile(r"^cb-[A-Za-z0-9._-]{1,80}$")
_NUMBER = re.compile(r"^\+[0-9]{6,15}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9]{1,16}/[A-Za-z0-9_.@]{1,80}$")  # what the context's FILTER() keeps
_TRUNK = re.compile(r"^[A-Za-z0-9_.]{1,80}$")
LEG_SETTLE = 10.0  # seconds beyond the ring time the first leg's result may take to arrive
CALL_LIMIT = 4 * 3600.0  # longest a bridged callback is waited for (its end carries the second leg's status)


class UnsafeOriginate(ValueError):
    """A value for an Originate action is not of its allowed form (it would change what is dialled)."""


class OriginateSender(Protocol):
    """Sends one AMI action and returns once Asterisk accepted it (the originate user's AMI client)."""

    async def __call__(self, name: str, fields: Mapping[str, str]) -> object: ...


@dataclass(frozen=True)
class CallbackLeg:
    """One callback to place: request id, the agent's device, the customer's E.164 number, who goes first."""

    request: str
    agent_endpoint: str
    number: str
    order: str
    ring_seconds: float


@dataclass(frozen=True)
class LegOutcomes:
    """answered, busy, no-answer or failed for each leg ("" when the second leg was never tried)."""

    first: str
    second: str = ""


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if any(c in value for c in "\r\n\0") or not pattern.match(value):
        raise UnsafeOriginate(f"{what} {value!r} is not allowed in an Originate")
    return value


def originate_fields(leg: CallbackLeg, trunk: str, caller_id: str) -> dict[str, str]:
    """The Originate action for `leg`: first leg as Channel, the request as extension of the callback context."""
    request = _check(leg.request, _REQUEST, "request id")
    number = _check(leg.number, _NUMBER, "number")
    agent = _check(leg.agent_endpoint, _ENDPOINT, "agent endpoint")
    trunk = _check(trunk, _TRUNK, "trunk")
    if any(c in caller_id for c in "\r\n\0,") or len(caller_id) > 80:
        raise UnsafeOriginate("caller ID not allowed in an Originate")
    customer = f"PJSIP/{number}@{trunk}"
    first = customer if leg.order == "customer_first" else agent
    ring = max(5, int(leg.ring_seconds))
    return {"Channel": first, "Context": CONTEXT, "Exten": request, "Priority": "1", "Async": "true",
            "Timeout": str(ring * 1000), "CallerID": caller_id or number,
            "Variable": f"SB_CALLBACK_ORDER={leg.order},SB_CALLBACK_NUMBER={number},SB_CALLBACK_AGENT={agent},"
                        f"SB_CALLBACK_TRUNK={trunk},SB_CALLBACK_RING={ring}"}


class CallbackOriginator:
    """Places callbacks and waits for both legs' outcomes, fed the main AMI connection's events."""

    def __init__(self, send: OriginateSender, trunk: str, caller_id: str = "") -> None:
        self._send = send
        self.trunk = trunk
        self.caller_id = caller_id
        self._first: dict[str, asyncio.Future[str]] = {}
        self._ended: dict[str, asyncio.Future[str]] = {}

    def on_ami_event(self, name: str, fields: Mapping[str, str]) -> None:
        """OriginateResponse (the first leg) and UserEvent SwitchboardCallback (the call ended: second leg)."""
        if name == "OriginateResponse":
            future = self._first.get(fields.get("Exten", ""))
            if future is not None and not future.done():
                answered = fields.get("Response", "") == "Success"
                future.set_result("answered" if answered else REASONS.get(fields.get("Reason", ""), "failed"))
        elif name == "UserEvent" and fields.get("UserEvent") == REQUEST_EVENT:
            future = self._ended.get(fields.get("Request", ""))
            if future is not None and not future.done():
                future.set_result(DIAL_STATUSES.get(fields.get("Status", "").upper(), "failed"))

    async def dial(self, leg: CallbackLeg) -> LegOutcomes:
        """Originates `leg` and returns when the call is over (or its first leg failed)."""
        fields = originate_fields(leg, self.trunk, self.caller_id)
        loop = asyncio.get_running_loop()
        first, ended = loop.create_future(), loop.create_future()
        self._first[leg.request], self._ended[leg.request] = first, ended
        try:
            await self._send("Originate", fields)
            try:
                outcome = await asyncio.wait_for(first, leg.ring_seconds + LEG_SETTLE)
            except asyncio.TimeoutError:
                return LegOutcomes("failed")
            if outcome != "answered":
                return LegOutcomes(outcome)
            try:
                second = await asyncio.wait_for(ended, CALL_LIMIT)
            except asyncio.TimeoutError:
                second = "failed"
            return LegOutcomes("answered", second)
        finally:
            self._first.pop(leg.request, None)
            self._ended.pop(leg.request, None)
