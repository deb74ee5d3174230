"""The flow simulator: the real engine against a scripted caller, for `switchboard simulate` and for pytest.

The caller presses keys when the flow asks for input: each token of `digits` is what they key at the next
opportunity (a prompt that can be interrupted, or a wait for a key). `-` is a token for "presses nothing" (the
wait times out). `12#` keys three keys in a row. Agents answer unless `agents_answer=False`; `hangup_after=N`
makes the caller hang up at the Nth input opportunity.

Route nodes wait in a simulated line (`line=SimulatedLine(...)`, used by default when a route node has
`announce` or `callback`; a callback the caller takes is kept by a simulated desk): the caller starts at a place in line that shrinks steadily until an agent answers after
`answer_after` simulated seconds, with the remaining time as the estimate, so the report shows which
announcements the caller would hear and when (simulated time: no real waiting).

    from switchboard.ivr.flow_simulator import simulate
    result = simulate(plan, "main", digits=["1", "4"], segment="vip")
    assert result.destination == "PJSIP/agent1"
"""
from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

from switchboard.ivr import channel_variables
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.flow_engine import CallState, CustomerDirectory, EngineOptions, FlowEngine
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.nodes.route import RouteNode
from switchboard.ivr.queue_callback import CallbackAsk
from switchboard.ivr.virtual_clock import VirtualClock


@dataclass(frozen=True)
class SimulatedLine:
    """The line a simulated caller waits in: their first place, and when an agent answers (simulated seconds)."""

    position: int = 3
    answer_after: float = 150.0
    agent: str = "sim-agent"


@dataclass(frozen=True)
class SimulatedEstimate:
    position: int
    seconds: float | None


@dataclass(frozen=True)
class SimulatedOffer:
    agent: str
    endpoint: str


class SimulatedTicket:
    """A place in the simulated line: answered after `answer_after`, the place shrinking steadily until then."""

    ring_timeout = 15.0
    wrap_up = 0.0

    def __init__(self, line: SimulatedLine, clock: VirtualClock, endpoint: str) -> None:
        self._line, self._clock, self._endpoint = line, clock, endpoint
        self._entered = clock.time()
        self._answered = False

    @property
    def ready(self) -> bool:
        return self._answered

    async def wait(self) -> SimulatedOffer | None:
        await self._clock.sleep(self._entered + self._line.answer_after - self._clock.time())
        self._answered = True
        return SimulatedOffer(self._line.agent, self._endpoint)

    async def estimate(self) -> SimulatedEstimate | None:
        left = max(0.0, self._entered + self._line.answer_after - self._clock.time())
        share = left / self._line.answer_after if self._line.answer_after > 0 else 0.0
        return SimulatedEstimate(max(1, math.ceil(self._line.position * share)), left)

    async def hold(self, agent: str) -> None:
        return None

    async def not_answered(self, agent: str) -> None:
        return None

    async def finished(self, agent: str) -> None:
        return None

    async def leave(self) -> None:
        return None

    async def unreachable(self) -> str:
        await asyncio.get_running_loop().create_future()  # the simulated router never gives up
        return ""


@dataclass
class SimulatedDesk:
    """A route desk whose every caller waits in the same simulated line."""

    line: SimulatedLine
    clock: VirtualClock
    endpoint: str
    entered: Callable[[], None] = lambda: None  # the caller joined the line (the channel stamps events from then)

    async def request(self, uid: str, *, skills: dict[str, int], language: str, segment: str, customer: str,
                      priority: float, relaxation: str | None, queue: str) -> SimulatedTicket:
        self.entered()
        return SimulatedTicket(self.line, self.clock, self.endpoint)


@dataclass
class SimulatedCallbacks:
    """A callback desk that keeps the requests (a route node's `callback` in the simulator)."""

    region: str = "US"
    requests: list[CallbackAsk] = field(default_factory=list)
    offers: int = 0

    def offered(self, queue: str) -> None:
        self.offers += 1

    async def take(self, ask: CallbackAsk) -> str | None:
        self.requests.append(ask)
        return f"sim-callback-{len(self.requests)}"

    async def reached_agent(self, number: str) -> None:
        return None


@dataclass
class ScriptedChannel:
    """A channel whose caller follows a script; it records what the flow did."""

    digits: list[str]
    agents_answer: bool = True
    hangup_after: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    _buffer: str = ""
    _inputs: int = 0
    hung_up: bool = False
    clock: Callable[[], float] | None = None  # stamps waits in a simulated line ("[60s] play ...")
    announcements: list[str] = field(default_factory=list)
    _in_line: bool = False

    def joined_line(self) -> None:
        """The caller joined a simulated line: events are stamped with simulated seconds until an agent rings."""
        self._in_line = True

    def _log(self, event: str) -> None:
        if self.clock is not None and self._in_line:
            self.events.append(f"[{self.clock():g}s] {event}")
        else:
            self.events.append(event)

    def _opportunity(self) -> None:
        self._inputs += 1
        if self.hangup_after is not None and self._inputs >= self.hangup_after:
            self.hung_up = True
            self.events.append("caller hangs up")
            raise CallerHungUp("scripted hang-up")

    def _next_key(self, allow_timeout_token: bool) -> str | None:
        if not self._buffer and self.digits:
            if self.digits[0] == "-" and not allow_timeout_token:
                return None
            self._buffer = self.digits.pop(0)
            if self._buffer == "-":
                self._buffer = ""
                return None
        if not self._buffer:
            return None
        key, self._buffer = self._buffer[0], self._buffer[1:]
        return key

    async def answer(self) -> None:
        self.events.append("answer")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self._log(f"play {prompt}")
        self._heard(prompt)
        if not escape_digits:
            return None
        self._opportunity()
        key = self._next_key(allow_timeout_token=False)
        if key is not None and key not in escape_digits:
            return None
        if key:
            self.events.append(f"caller presses {key} (barge-in)")
        return key

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        self._log(f"say number {number}")
        self._heard(str(number))
        return None

    def _heard(self, word: str) -> None:
        if self._in_line and self.clock is not None:
            stamp = f"{self.clock():g}s:"
            if self.announcements and self.announcements[-1].startswith(stamp):
                self.announcements[-1] += f" {word}"
            else:
                self.announcements.append(f"{stamp} {word}")

    def until_hangup(self) -> Awaitable[None]:
        return asyncio.get_running_loop().create_future()  # a scripted caller hangs up only at an input

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self._opportunity()
        key = self._next_key(allow_timeout_token=True)
        self.events.append(f"caller presses {key}" if key else f"no key within {timeout_ms / 1000:g}s")
        return key

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def get_variable(self, name: str) -> str | None:
        return self.variables.get(name)

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self._log(f"{application}({','.join(args)})")
        if application == "Dial":
            self._in_line = False
        if application == "Dial":
            self.variables[channel_variables.DIALSTATUS] = "ANSWER" if self.agents_answer else "NOANSWER"
        return 0

    async def hangup(self) -> None:
        self.events.append("hangup")


@dataclass(frozen=True)
class SimulationResult:
    """What happened: the path, prompts, final destination and outcome, plus the channel's event log."""

    flow: str
    path: tuple[str, ...]
    prompts: tuple[str, ...]
    destination: str | None
    outcome: str
    variables: dict[str, str]
    channel_variables: dict[str, str]
    intents: tuple[str, ...]
    events: tuple[str, ...]
    version: str
    customer_id: str | None = None
    confidence: str = "none"
    announcements: tuple[str, ...] = ()  # what a caller in a simulated line heard, by simulated second
    callback: CallbackAsk | None = None  # the callback request the caller made (route node `callback`)

    def report(self) -> str:
        lines = [f"flow {self.flow} (dialplan version {self.version})",
                 f"path:        {' -> '.join(self.path)}",
                 f"prompts:     {', '.join(self.prompts) or '-'}",
                 f"destination: {self.destination or '-'}",
                 f"outcome:     {self.outcome}"]
        if self.intents:
            lines.append(f"intents:     {', '.join(self.intents)}")
        if self.customer_id:
            lines.append(f"customer:    {self.customer_id} ({self.confidence})")
        if self.announcements:
            lines.append("announced:   " + "; ".join(self.announcements))
        if self.callback is not None:
            ask = self.callback
            when = "" if ask.not_before is None else ", not before " + datetime.fromtimestamp(
                ask.not_before, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            lines.append(f"callback:    {ask.number} ({ask.order}, at most {ask.max_attempts} attempt(s), "
                         f"retry after {ask.retry_after:g}s{when})")
        if self.variables:
            lines.append("variables:   " + ", ".join(f"{k}={v}" for k, v in sorted(self.variables.items())))
        return "\n".join(lines)


def simulate(plan: Dialplan, flow_name: str, **options: Any) -> SimulationResult:
    """Runs one simulated call (see `simulate_call` for the options) from synchronous code."""
    return asyncio.run(simulate_call(plan, flow_name, **options))


async def simulate_call(plan: Dialplan, flow_name: str, *, digits: Sequence[str] = (), caller: str | None = None,
             at: datetime | None = None, segment: str = "standard", known: bool = False, language: str = "en",
             agents_answer: bool = True, hangup_after: int | None = None,
             route_endpoint: str = "PJSIP/agent1",
             customers: CustomerDirectory | None = None, line: SimulatedLine | None = None,
             region: str = "US") -> SimulationResult:
    """Runs one simulated call through `flow_name` and returns what happened.

    `customers` is what identify nodes look accounts up in and verify secrets against (any object with the
    `CustomerDirectory` methods); without one, identify nodes go to their `on_failure` node as on a live call
    with no customer store. `line` puts route nodes' callers in a simulated line (by default a `SimulatedLine()`
    when some route node of the plan has `announce` or `callback`; otherwise route nodes dial `route_endpoint`).
    A route node's `callback` is taken by a simulated desk reading national numbers in `region`; the request
    made is `result.callback`.
    """
    if flow_name not in plan.flows:
        raise KeyError(f"no flow {flow_name!r}; flows: {', '.join(sorted(plan.flows))}")
    moment = at or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if line is None and any(isinstance(node.spec, RouteNode) and (node.spec.announce or node.spec.callback)
                            for flow in plan.flows.values() for node in flow.nodes.values()):
        line = SimulatedLine()
    clock = VirtualClock()
    channel = ScriptedChannel(digits=list(digits), agents_answer=agents_answer, hangup_after=hangup_after,
                              clock=clock.time if line is not None else None)
    options = EngineOptions(route_endpoint=route_endpoint, customers=customers)
    callbacks = SimulatedCallbacks(region)
    if line is not None:
        desk = SimulatedDesk(line, clock, route_endpoint, channel.joined_line)
        options = EngineOptions(route_endpoint=route_endpoint, customers=customers, route_desk=desk,
                                wait_clock=clock.time, wait_sleep=clock.sleep, callback_desk=callbacks)
    engine = FlowEngine(options, logging.getLogger("switchboard.simulate"), clock=lambda: moment)
    state = CallState(caller=caller, segment=segment, known=known, language=language)
    await clock.drive(engine.run(channel, plan, plan.flows[flow_name], state))
    return SimulationResult(flow=flow_name, path=tuple(state.path), prompts=tuple(state.prompts),
                            destination=state.destination, outcome=state.outcome or "contained",
                            variables=dict(state.variables), channel_variables=dict(channel.variables),
                            intents=tuple(state.intents),
                            events=tuple(channel.events), version=state.version or "",
                            customer_id=state.customer_id, confidence=state.confidence,
                            announcements=tuple(channel.announcements),
                            callback=callbacks.requests[-1] if callbacks.requests else None)
