"""Runs a YAML flow on one call: node by node over the channel's verbs, recording the path the caller took.

The engine is the same for a live call (an AGI `Channel`) and for the simulator (a scripted channel), so what an
admin simulates is what callers get. The engine owns the run loop only; each node kind's runner lives in its module
of `switchboard.ivr.nodes` and is found through `nodes.registry.KINDS`. The engine never
blocks the loop (every step awaits the channel), never loops for ever (a step budget ends a runaway flow as
`failed`), and a caller hang-up at any node ends the run cleanly with the outcome and the last node recorded.

Outcomes: `contained` (ended in self-service), `routed` (an agent answered), `overflow` (a queue sent the caller on
and the flow ended without an agent), `transferred`, `voicemail`,
`abandoned` (the caller hung up in the IVR), `fallback` (the dialplan's fallback takes over), `failed`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Mapping, Protocol

from switchboard.ivr import channel_variables
from switchboard.ivr.call_ports import (CustomerDirectory, CustomerLike, FlowObserver, QueueObserver, QuietFlow, QuietQueue,
                                        QuietResolution, ResolutionObserver, RouteDesk)
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.queue_callback import CallbackDesk
from switchboard.ivr.flow_model import Dialplan, Flow
from switchboard.ivr.nodes.registry import KINDS
from switchboard.ivr.nodes.step import EnterFlow, Step
from switchboard.ivr.nodes.survey import SURVEY_ANSWERS

__all__ = ["MAX_STEPS", "SURVEY_ANSWERS", "CustomerDirectory", "FlowChannel", "CallState", "EngineOptions",
           "FlowEngine"]

MAX_STEPS = 500


class ConnectNotice(Protocol):
    """The call's owner, told before a route or transfer node rings anyone (to record what the IVR learnt)."""

    async def before_connect(self, state: CallState) -> None: ...


class FlowChannel(Protocol):
    """The verbs the engine uses (ivr.channel.Channel and the simulator's channel both provide them)."""

    async def answer(self) -> None: ...

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def get_variables(self, *names: str) -> tuple[str | None, ...]: ...

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int: ...

    async def hangup(self) -> None: ...


@dataclass
class CallState:
    """What the engine knows and learns about one call."""

    caller: str | None = None
    dialled: str | None = None
    uniqueid: str | None = None
    queue: str | None = None  # the route node's queue once the call was offered to agents
    language: str = "en"
    segment: str = "standard"
    known: bool = False
    customer: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    # channel variables decided (set/collect nodes) but not sent yet: they go with the next variables the call sends,
    # before anything that hands the call to the dialplan (Dial, VoiceMail, hang-up) and at the end of the flow
    unsent: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    confidence: str = "none"       # none, ani (caller-ID match), verified (identify node)
    customer_id: str | None = None
    is_open: bool | None = None
    outcome: str | None = None
    destination: str | None = None
    waited: float | None = None  # seconds the caller waited in line for an agent (route node, skills router)
    last_node: str | None = None
    version: str | None = None
    pending_digit: str | None = None

    def attach_customer(self, customer: CustomerLike) -> None:
        """A customer is known for this call (caller ID or identify-and-verify): the fields `customer:` conditions
        of branch nodes read, and the customer's segment."""
        self.known = True
        self.customer_id = customer.id
        fields = {"id": customer.id, "segment": customer.segment, "language": customer.language,
                  "account": customer.account}
        self.customer = {**self.customer, **{k: v for k, v in fields.items() if v}}
        if customer.segment:
            self.segment = customer.segment


@dataclass(frozen=True)
class EngineOptions:
    """Settings the engine needs from the service."""

    route_endpoint: str = "PJSIP/agent1"  # until the router exists, route nodes without `endpoint` dial this
    customers: CustomerDirectory | None = None  # identify nodes fail (on_failure) without one
    route_desk: RouteDesk | None = None  # the skills router; without it route nodes dial `route_endpoint`
    queue: QueueObserver = field(default_factory=QuietQueue)
    resolution: ResolutionObserver = field(default_factory=QuietResolution)  # survey answers (FCR, CSAT)
    wait_clock: Callable[[], float] = time.monotonic  # seconds in line (route nodes' waits and announcements)
    wait_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # times the announcements (the simulator's is virtual)
    callback_desk: CallbackDesk | None = None  # takes route nodes' callback requests; without it none is offered


class FlowEngine:
    """Executes flows of one dialplan version; stateless between calls."""

    def __init__(self, options: EngineOptions, logger: logging.Logger,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 observer: FlowObserver | None = None) -> None:
        self._options = options
        self._log = logger
        self._clock = clock
        # (event, "flow.node"): event is "visit", "invalid" or "no_input" (menu inputs), for metrics.
        self._observer = observer or QuietFlow()

    async def run(self, channel: FlowChannel, dialplan: Dialplan, flow: Flow, state: CallState,
                  progress: ConnectNotice | None = None) -> CallState:
        """Runs `flow` from its start to an end; returns the state with outcome and path filled in. `progress`
        (the call's owner) is told before a route or transfer node rings anyone."""
        state.version = dialplan.version
        current_flow: Flow = flow
        name: str | None = flow.start
        steps = 0
        step = Step(channel=channel, state=state, options=self._options, log=self._log, clock=self._clock,
                    observer=self._observer, progress=progress, node=flow.start)
        observer, kinds = self._observer, KINDS
        try:
            await channel.answer()
            while name is not None:
                steps += 1
                if steps > MAX_STEPS:
                    self._log.error("flow %s: more than %d steps, ended as failed (last node %s)",
                                    current_flow.name, MAX_STEPS, name)
                    state.outcome = "failed"
                    await step.send_variables({channel_variables.STATUS: channel_variables.STATUS_FAILED})
                    break
                node = current_flow.nodes[name]
                where = f"{current_flow.name}.{node.name}"
                state.path.append(where)
                state.last_node = where
                if node.intent and node.intent not in state.intents:
                    state.intents.append(node.intent)
                observer.on_event("visit", where)
                step.node = node.name
                following = await kinds[node.kind].run(node.spec, step)
                if isinstance(following, EnterFlow):  # goto: on at the start of another flow
                    current_flow = dialplan.flows[following.flow]
                    name = current_flow.start
                else:
                    name = following
            if state.unsent:  # what set/collect nodes decided reaches the dialplan that runs after the flow
                await step.send_variables()
        except CallerHungUp:
            state.outcome = state.outcome or "abandoned"
        if state.outcome is None:
            state.outcome = "contained"
        return state
