"""The AGI entry for YAML flows: picks the flow for the dialled number and runs it on the live call.

It pins the dialplan version for the whole call, builds the call's state from the AGI environment, runs the
engine, and records the outcome, path, intents and destination in the call-context store. A number with no flow
(and no default) sends the caller to the dialplan's fallback; the store's trouble never reaches the caller.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Protocol

from switchboard.ivr.channel import STATUS_VARIABLE, Channel
from switchboard.ivr.flow_engine import CallState, FlowEngine
from switchboard.ivr.flow_model import Dialplan

MAX_RECORDED_PATH = 200


class CallRecorder(Protocol):
    """Where the call's context goes (the CTI call-context store)."""

    async def record(self, uniqueid: str, fields: Mapping[str, str]) -> None: ...


class ContactHistory(Protocol):
    """Where a known customer's IVR history goes (the customer store)."""

    async def add_contact(self, customer_id: str, contact: Mapping[str, Any], field_name: str) -> None: ...


@dataclass(frozen=True)
class ContactFacts:
    """What first-contact resolution needs about one finished call (labels from closed sets only)."""

    uniqueid: str
    customer_id: str | None
    number: str | None   # E.164 from recognition, None when withheld or invalid
    started: float
    queue: str           # the route node's queue, or "self-service" when no agent was asked for
    segment: str
    flow: str
    intent: str          # the first intent the IVR tagged, or ""


class DialplanCall:
    """One instance serves every call of the `inbound` script when dialplans are configured."""

    def __init__(self, current: Callable[[], Dialplan], engine: FlowEngine, recorder: CallRecorder,
                 on_finished: Callable[[str, str], None], logger: logging.Logger,
                 recognise: Callable[[str | None, str | None], Awaitable[Any]] | None = None,
                 history: ContactHistory | None = None, clock: Callable[[], float] = time.time,
                 on_contact: Callable[[ContactFacts], Awaitable[None]] | None = None,
                 on_abandoned: Callable[[str], None] | None = None) -> None:
        self._current = current
        self._engine = engine
        self._recorder = recorder
        self._on_finished = on_finished
        self._log = logger
        self._recognise = recognise
        self._history = history
        self._on_contact = on_contact
        self._on_abandoned = on_abandoned
        self._clock = clock

    async def _record(self, uniqueid: str, fields: Mapping[str, str]) -> None:
        try:
            await self._recorder.record(uniqueid, fields)
        except Exception as exc:
            self._log.warning("call %s: context not recorded (%s)", uniqueid, type(exc).__name__)

    async def __call__(self, channel: Channel) -> None:
        plan = self._current()  # pinned: a reload during this call does not change its flow
        env = channel.env
        uid = env.uniqueid or "unknown"
        name = next((plan.numbers[n] for n in (env.dnid, env.extension) if n and n in plan.numbers),
                    plan.default_flow)
        flow = plan.flows.get(name) if name else None
        if flow is None:
            self._log.error("call %s: no flow for dialled number %s and no default in numbers.yaml",
                            uid, env.dnid or env.extension)
            await channel.set_variable(STATUS_VARIABLE, "FAILED")
            self._on_finished("none", "failed")
            return
        started = self._clock()
        state = CallState(caller=env.caller_id, dialled=env.dnid or env.extension, language=env.language or "en",
                          uniqueid=uid)
        recognition = "off"
        number: str | None = None
        if self._recognise is not None:
            found = await self._recognise(env.caller_id, env.caller_name)
            recognition = found.result
            number = found.number
            state.segment = found.segment
            state.confidence = found.confidence
            if found.customer is not None:
                state.known = True
                state.customer_id = found.customer.id
                state.customer = {"id": found.customer.id, "segment": found.customer.segment,
                                  "language": found.customer.language, "account": found.customer.account}
                state.language = found.customer.language or state.language
        await self._record(uid, {"state": "ivr", "flow": flow.name, "dialplan_version": plan.version,
                                 "caller": env.caller_id or "", "dnid": state.dialled or "",
                                 "started_at": f"{started:.3f}", "recognition": recognition,
                                 "customer_id": state.customer_id or "", "segment": state.segment,
                                 "confidence": state.confidence})

        async def before_connect(progress: CallState) -> None:  # screen pops read this while the phone rings
            await self._record(uid, self._progress(progress))
        state.before_connect = before_connect
        try:
            await self._tell_dialplan(channel, state)
            await self._engine.run(channel, plan, flow, state)
        finally:
            outcome = state.outcome or "failed"
            self._on_finished(flow.name, outcome)
            if outcome == "abandoned" and state.queue is None and state.last_node and self._on_abandoned:
                self._on_abandoned(state.last_node)  # hung up in the IVR itself, not while waiting for an agent
            await self._record(uid, {"state": "ended", "outcome": outcome, "destination": state.destination or "",
                                     **self._progress(state)})
            await self._remember(state, flow.name, outcome, started)
            await self._count_contact(ContactFacts(uid, state.customer_id, number, started,
                                                   state.queue or "self-service", state.segment, flow.name,
                                                   state.intents[0] if state.intents else ""))

    async def _count_contact(self, facts: ContactFacts) -> None:
        if self._on_contact is None:
            return
        try:
            await self._on_contact(facts)
        except Exception as exc:  # FCR bookkeeping must never disturb the call
            self._log.warning("call %s: contact not counted for FCR (%s)", facts.uniqueid, type(exc).__name__)

    @staticmethod
    def _progress(state: CallState) -> dict[str, str]:
        """What the IVR has learnt about the call so far."""
        return {"last_node": state.last_node or "", "path": " > ".join(state.path[-MAX_RECORDED_PATH:]),
                "intents": ",".join(state.intents), "language": state.language,
                "customer_id": state.customer_id or "", "segment": state.segment, "confidence": state.confidence}

    @staticmethod
    async def _tell_dialplan(channel: Channel, state: CallState) -> None:
        """What the dialplan (and agents' phones) may use: customer id, segment, confidence, language."""
        if state.customer_id:
            await channel.set_variable("SWITCHBOARD_CUSTOMER_ID", state.customer_id)
        await channel.set_variable("SWITCHBOARD_SEGMENT", state.segment)
        await channel.set_variable("SWITCHBOARD_CONFIDENCE", state.confidence)
        if state.known and state.language:
            await channel.set_variable("CHANNEL(language)", state.language)

    async def _remember(self, state: CallState, flow: str, outcome: str, started: float) -> None:
        """A known customer's self-service history grows with what this call did in the IVR."""
        if self._history is None or not state.customer_id:
            return
        entry = {"at": round(started), "flow": flow, "intents": state.intents, "outcome": outcome}
        try:
            await self._history.add_contact(state.customer_id, entry, "self_service")
        except Exception as exc:
            self._log.warning("self-service history not recorded (%s)", type(exc).__name__)
