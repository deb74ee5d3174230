"""The call script: one inbound call's life, from FastAGI accept to its recorded end.

    choose the flow → recognise the caller (and record the call's start) → tell the dialplan → run the flow (route
    nodes ask the route desk for an agent; progress is recorded before anyone rings) → finish: outcome, self-service
    history, first-contact resolution (recorded together), metrics

The stores hear from a call three times: at its start, before an agent rings, at its end (plus the route desk); when a
route node asks the route desk, the record before ringing travels with the call's offer (one trip less).

`InboundCalls` is the FastAGI `inbound` script (one per process); it hands each call to an `InboundCall`, which
owns that call's state. Collaborators are the ports of `ivr.call_ports`, wired in by the composition root. The
dialplan version is pinned for the whole call (a reload during a call does not change its flow). Nothing a
collaborator does wrong reaches the caller: a store that fails is logged and the call goes on; a number with no
flow sends the caller to the dialplan's fallback.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Protocol

from switchboard.ivr.call_ports import (CallEnd, CallerDirectory, CallJournal, CallSnapshot, ConnectRecord,
                                        ContactFacts, EarlierContactLike, FlowObserver, QuietResolution,
                                        ResolutionObserver)
from switchboard.ivr.channel import Channel
from switchboard.ivr.channel_variables import (CHANNEL_LANGUAGE, CONFIDENCE, CUSTOMER_ID, SEGMENT, STATUS,
                                               STATUS_FAILED)
from switchboard.ivr.flow_engine import CallState, FlowEngine
from switchboard.ivr.flow_model import Dialplan, Flow
from switchboard.ivr.nodes.route import RouteNode

MAX_RECORDED_PATH = 200
SELF_SERVICE = "self-service"  # the queue label of a contact that never asked for an agent


class DialplanSource(Protocol):
    """The live, validated dialplan version (the registry swaps it on reload)."""

    @property
    def current(self) -> Dialplan: ...


@dataclass(frozen=True)
class CallPorts:
    """Everything outside ivr that a call talks to; optional ports are simply not used when absent."""

    journal: CallJournal
    flows: FlowObserver
    callers: CallerDirectory | None = None
    count_contacts: bool = False  # first-contact resolution: each finished call is a contact (and may repeat one)
    resolution: ResolutionObserver = field(default_factory=QuietResolution)
    route_record: ConnectRecord | None = None  # wired with the route desk: the record before ringing rides the offer


class InboundCalls:
    """The `inbound` FastAGI script: every call gets its own `InboundCall` on the current dialplan version."""

    def __init__(self, dialplans: DialplanSource, engine: FlowEngine, ports: CallPorts, logger: logging.Logger,
                 clock: Callable[[], float] = time.time) -> None:
        self._dialplans = dialplans
        self._engine = engine
        self._ports = ports
        self._log = logger
        self._clock = clock

    def __call__(self, channel: Channel) -> Coroutine[Any, Any, None]:
        """The call's `run()` coroutine itself (the listener runs it as the connection's task, no layer around)."""
        return InboundCall(channel, self._dialplans.current, self._engine, self._ports, self._log, self._clock).run()


class InboundCall:
    """One call; `run()` is its whole life."""

    def __init__(self, channel: Channel, plan: Dialplan, engine: FlowEngine, ports: CallPorts,
                 logger: logging.Logger, clock: Callable[[], float]) -> None:
        env = channel.env
        self.channel = channel
        self.plan = plan
        self._engine = engine
        self._ports = ports
        self._log = logger
        self.uniqueid = env.uniqueid or "unknown"
        self.started = clock()
        self.state = CallState(caller=env.caller_id, dialled=env.dnid or env.extension,
                               language=env.language or "en", uniqueid=self.uniqueid)
        self.recognition = "off" if ports.callers is None else "pending"  # "pending" in the opening record
        self.number: str | None = None  # E.164 from recognition; None when withheld or invalid
        self.flow: Flow | None = None
        self.ended = False

    async def run(self) -> None:
        """The whole call, in order."""
        self.flow = self.choose_flow()
        if self.flow is None:
            await self.send_to_fallback()
            return
        await self.recognise()
        try:
            await self.tell_dialplan()
            await self._engine.run(self.channel, self.plan, self.flow, self.state, progress=self)
        finally:
            await self.finish()

    # --- the verbs ------------------------------------------------------------------------------------------
    def choose_flow(self) -> Flow | None:
        """The flow of the dialled number (DNID, else extension), else numbers.yaml's default."""
        env = self.channel.env
        plan = self.plan
        name = next((plan.numbers[n] for n in (env.dnid, env.extension) if n and n in plan.numbers),
                    plan.default_flow)
        return plan.flows.get(name) if name else None

    async def send_to_fallback(self) -> None:
        """No flow for this number: the dialplan's fallback rings a human."""
        env = self.channel.env
        self._log.error("call %s: no flow for dialled number %s and no default in numbers.yaml",
                        self.uniqueid, env.dnid or env.extension)
        await self.channel.set_variable(STATUS, STATUS_FAILED)
        self._ports.flows.on_finished("none", "failed")
        self.log_ended()

    async def recognise(self) -> None:
        """Caller ID → customer, segment, confidence, language (within the directory's time budget); the call's
        start is recorded on the way."""
        callers = self._ports.callers
        if callers is None:
            await self.record()
            return
        env, state = self.channel.env, self.state
        found = await callers.begin_call(self.snapshot(), env.caller_id, env.caller_name)
        self.recognition = found.result
        self.number = found.number
        customer = found.customer
        if customer is not None:
            state.attach_customer(customer)
            state.language = customer.language or state.language
        state.segment = found.segment
        state.confidence = found.confidence

    async def tell_dialplan(self) -> None:
        """What the dialplan (and agents' phones) may use: customer id, segment, confidence, language."""
        state, channel = self.state, self.channel
        told = {CUSTOMER_ID: state.customer_id} if state.customer_id else {}
        told.update({SEGMENT: state.segment, CONFIDENCE: state.confidence})
        if state.known and state.language and state.language != (channel.env.language or "en"):
            told[CHANNEL_LANGUAGE] = state.language  # (the channel's own needs no command)
        refused = await channel.set_variables(told)  # one command: EXEC MSet (ivr/variable_batch.py)
        if refused:
            self._log.warning("call %s: channel variable(s) %s not set: value holds CR, LF or NUL", self.uniqueid,
                              ", ".join(refused))

    async def before_connect(self, state: CallState) -> None:
        """Called by route and transfer nodes before anyone rings: the screen pop reads what the IVR learnt. A route
        node that asks the route desk hands the record over to travel with the call's offer (written before any
        agent is reserved, so before any rings; no round trip of its own); others write it now."""
        courier = self._ports.route_record
        if courier is not None and self.asks_route_desk(state):
            courier.hand_over(self.snapshot())
            return
        await self.record()

    def asks_route_desk(self, state: CallState) -> bool:
        """The node about to connect (the last visited) is a route node that routes by skills (no fixed endpoint)."""
        flow_name, _, node_name = (state.last_node or "").partition(".")
        flow = self.plan.flows.get(flow_name)
        node = flow.nodes.get(node_name) if flow is not None else None
        return node is not None and isinstance(node.spec, RouteNode) and not node.spec.endpoint

    async def record(self) -> None:
        """Writes the call's context to the journal; its trouble never reaches the caller."""
        try:
            await self._ports.journal.write(self.snapshot())
        except Exception as exc:
            self._log.warning("call %s: context not recorded (%s)", self.uniqueid, type(exc).__name__)

    async def finish(self) -> None:
        """The call's end: outcome for metrics and the journal, the customer's history, FCR."""
        assert self.flow is not None
        state = self.state
        state.outcome = state.outcome or "failed"
        self.ended = True
        flows = self._ports.flows
        flows.on_finished(self.flow.name, state.outcome)
        self.log_ended()
        if state.outcome == "abandoned" and state.queue is None and state.last_node:
            flows.on_abandoned(state.last_node)  # hung up in the IVR itself, not while waiting for an agent
        contact = self.contact()
        try:  # the final record, the self-service history and the FCR contact: one trip to the journal
            earlier = await self._ports.journal.finish(self.snapshot(), CallEnd(self.history_entry(), contact))
        except Exception as exc:  # bookkeeping must never disturb the call
            self._log.warning("call %s: call end not recorded (%s)", self.uniqueid, type(exc).__name__)
            return
        if contact is not None:
            self.count_contact(contact, earlier)

    def log_ended(self) -> None:
        """One INFO line per finished call, its fields also as `extra=` (JSON logs): never the caller's number or
        name, only the uniqueid, flow, outcome, queue, agent (id, or the endpoint a route node dialled) and wait."""
        state = self.state
        destination = state.destination or ""
        agent = destination[len("agent:"):] if destination.startswith("agent:") else (
            destination if state.outcome == "routed" and destination else None)
        wait = None if state.waited is None else round(state.waited, 1)
        fields: dict[str, object] = {"uniqueid": self.uniqueid, "flow": self.flow.name if self.flow else "none",
                                     "outcome": state.outcome or "failed", "queue": state.queue, "agent": agent,
                                     "wait": wait}
        self._log.info("call %s ended: flow=%s outcome=%s queue=%s agent=%s wait=%s",
                       *("-" if value is None else value for value in fields.values()), extra=fields)

    def history_entry(self) -> dict[str, object] | None:
        """A known customer's self-service history grows with what this call did in the IVR."""
        state = self.state
        if not state.customer_id or self.flow is None:
            return None
        return {"at": round(self.started), "flow": self.flow.name, "intents": list(state.intents),
                "outcome": state.outcome}

    def contact(self) -> ContactFacts | None:
        """This call as a first-contact-resolution contact; None when not counted or nobody can be matched."""
        state = self.state
        if not self._ports.count_contacts or self.flow is None or not (state.customer_id or self.number):
            return None  # withheld and unverified: nobody to match a repeat against, not counted
        return ContactFacts(customer_id=state.customer_id, number=self.number, queue=state.queue or SELF_SERVICE,
                            segment=state.segment, flow=self.flow.name,
                            intent=state.intents[0] if state.intents else "")

    def count_contact(self, contact: ContactFacts, earlier: EarlierContactLike | None) -> None:
        """First-contact resolution: this contact, and the earlier one it repeats (if any)."""
        resolution = self._ports.resolution
        resolution.contact(contact.queue, contact.segment, contact.flow)
        if earlier is not None:
            resolution.repeat(earlier.queue, earlier.segment, earlier.flow)

    def snapshot(self) -> CallSnapshot:
        """The call's context as it stands."""
        state, env = self.state, self.channel.env
        return CallSnapshot(
            uniqueid=self.uniqueid, state="ended" if self.ended else "ivr",
            flow=self.flow.name if self.flow else "", dialplan_version=self.plan.version,
            caller=env.caller_id or "", dnid=state.dialled or "", started_at=self.started,
            recognition=self.recognition, customer_id=state.customer_id, segment=state.segment,
            confidence=state.confidence, language=state.language, last_node=state.last_node or "",
            path=tuple(state.path[-MAX_RECORDED_PATH:]), intents=tuple(state.intents), queue=state.queue,
            outcome=state.outcome if self.ended else None, destination=state.destination)
