"""The flow simulator: the real engine against a scripted caller, for `switchboard simulate` and for pytest.

The caller presses keys when the flow asks for input: each token of `digits` is what they key at the next
opportunity: an interruptible play (all the prompts one node plays in one go: a menu's prompt list, a `play` with
barge-in) or a wait for a key. As on Asterisk, a key pressed during any prompt of an interruptible play stops the
whole play and is the input: a key token is pressed during the play's first prompt, the later prompts are not
played, and the token's other keys go to the reads that follow. Keys the play does not listen for (A-D) are
ignored and the play goes on. `-` is a token for "presses nothing": plays let it pass and the next wait times out.
`12#` keys three keys in a row. Agents answer unless `agents_answer=False`; `hangup_after=N` makes the caller hang
up at the Nth input opportunity (a play of several prompts is one).

Route nodes ring the agent the router would pick when `agents` is given (an `AgentPicker`: the CLI passes
router/route_preview.py over routing.yaml): at once, after relaxation widens the call's needs, or never (the call
overflows, or the caller gives up after `PATIENCE`); each pick's reason goes to the report. Route nodes also wait
in a simulated line (`line=SimulatedLine(...)`, used by default when a route node has `announce` or `callback`; a
callback the caller takes is kept by a simulated desk): the caller starts at a place in line that shrinks steadily
until an agent answers after `answer_after` simulated seconds, with the remaining time as the estimate, so the
report shows which announcements the caller would hear and when (simulated time: no real waiting).

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
from typing import Any, Awaitable, Callable, Collection, Mapping, Protocol, Sequence

from switchboard.ivr import channel_variables
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.flow_engine import CallState, CustomerDirectory, EngineOptions, FlowEngine
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.nodes.route import RouteNode
from switchboard.ivr.queue_callback import CallbackAsk
from switchboard.ivr.virtual_clock import VirtualClock


PATIENCE = 3600.0  # seconds a simulated caller whom no agent can ever take waits in line before hanging up
RING_TIMEOUT = 15.0  # seconds an agent's phone rings in a simulated line without an agent picker


@dataclass(frozen=True)
class SimulatedLine:
    """The line a simulated caller waits in: their first place, and when an agent answers (simulated seconds)."""

    position: int = 3
    answer_after: float = 150.0
    agent: str = "sim-agent"


class AgentPick(Protocol):
    """Who takes a call: `agent` (at `endpoint`) after `after` seconds in line, or the overflow then (`overflow`);
    `after` None: no agent ever does. `reason` says why, for the report."""

    @property
    def agent(self) -> str | None: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def after(self) -> float | None: ...

    @property
    def overflow(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class AgentPicker(Protocol):
    """The agents a route node's call would get, as the router chooses them (router/route_preview.py implements
    it over routing.yaml; the composition root passes it in)."""

    @property
    def ring_timeout(self) -> float: ...  # seconds an offered agent's phone rings (routing.yaml's ring_no_answer)

    def pick(self, skills: Mapping[str, int], language: str, relaxation: str | None, earliest: float = 0.0,
             passed: Collection[str] = ()) -> AgentPick: ...


@dataclass(frozen=True)
class _LinePick:
    """The pick of a simulated line without an agent picker: its own agent, when the line has moved up."""

    agent: str | None
    endpoint: str
    after: float | None
    overflow: bool = False
    reason: str = ""


@dataclass(frozen=True)
class SimulatedEstimate:
    position: int
    seconds: float | None


@dataclass(frozen=True)
class SimulatedOffer:
    agent: str
    endpoint: str


@dataclass(frozen=True)
class _Ask:
    """What the route node asked for (the picker is asked again after an agent did not answer)."""

    skills: dict[str, int]
    language: str
    relaxation: str | None
    queue: str


class SimulatedTicket:
    """A call's place in the simulated line: offered to the picked agent when the pick says (the place shrinking
    steadily until then in a simulated line), sent on at an overflow, or left until the caller gives up."""

    wrap_up = 0.0

    def __init__(self, desk: "SimulatedDesk", ask: _Ask) -> None:
        self._desk, self._ask = desk, ask
        self._clock = desk.clock
        self._entered = self._clock.time()
        self._passed: list[str] = []
        self._pick = desk.choose(ask, desk.line.answer_after if desk.line is not None else 0.0, ())

    @property
    def ring_timeout(self) -> float:
        return self._desk.picker.ring_timeout if self._desk.picker is not None else RING_TIMEOUT

    def _waited(self) -> float:
        return self._clock.time() - self._entered

    @property
    def ready(self) -> bool:
        """The offer (or the overflow) is already here: no music, straight to the ring."""
        return self._pick.after is not None and self._pick.after <= self._waited()

    async def wait(self) -> SimulatedOffer | None:
        pick = self._pick
        if pick.after is None:
            await self._clock.sleep(PATIENCE - self._waited())
            self._desk.gave_up(f"caller hangs up after {PATIENCE:g} s in line (no agent can take the call)")
            await asyncio.get_running_loop().create_future()  # the hang-up ends the wait
        assert pick.after is not None
        await self._clock.sleep(pick.after - self._waited())
        if pick.overflow or pick.agent is None:
            return None
        return SimulatedOffer(pick.agent, pick.endpoint)

    async def estimate(self) -> SimulatedEstimate | None:
        line = self._desk.line
        if line is None:
            return None
        left = max(0.0, line.answer_after - self._waited())
        share = left / line.answer_after if line.answer_after > 0 else 0.0
        return SimulatedEstimate(max(1, math.ceil(line.position * share)), left)

    async def hold(self, agent: str) -> None:
        return None

    async def not_answered(self, agent: str) -> None:
        """Back in line: the agent who did not answer is not offered this call again."""
        self._passed.append(agent)
        self._pick = self._desk.choose(self._ask, self._waited(), tuple(self._passed))

    async def finished(self, agent: str) -> None:
        return None

    async def leave(self) -> None:
        return None

    async def unreachable(self) -> str:
        await asyncio.get_running_loop().create_future()  # the simulated router never gives up
        return ""


@dataclass
class SimulatedDesk:
    """A route desk for simulated calls: the agent picker says who takes each call and when; a simulated line
    (when given) keeps the caller waiting behind others until `answer_after` first."""

    clock: VirtualClock
    endpoint: str
    line: SimulatedLine | None = None
    picker: AgentPicker | None = None
    entered: Callable[[], None] = lambda: None  # the caller joined the line (the channel stamps events from then)
    gave_up: Callable[[str], None] = lambda why: None  # the caller hangs up in line
    picks: list[str] = field(default_factory=list)  # each pick's reason, for the report

    async def request(self, uid: str, *, skills: dict[str, int], language: str, segment: str, customer: str,
                      priority: float, relaxation: str | None, queue: str) -> SimulatedTicket:
        self.entered()
        return SimulatedTicket(self, _Ask(dict(skills), language, relaxation, queue))

    def choose(self, ask: _Ask, earliest: float, passed: tuple[str, ...]) -> AgentPick:
        """The picker's choice (its reason goes to the report), else the simulated line's own agent."""
        if self.picker is None:
            if passed:  # the line's agent did not answer: nobody else will
                return _LinePick(None, "", None)
            return _LinePick(self.line.agent if self.line else "sim-agent", self.endpoint, earliest)
        pick = self.picker.pick(ask.skills, ask.language, ask.relaxation, earliest, passed)
        self.picks.append(f"{ask.queue}: {pick.reason}" if ask.queue else pick.reason)
        return pick


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
    node: Callable[[], int] = lambda: 0  # how many nodes the call has entered: a new node starts a new play
    sleep: Callable[[float], Awaitable[None]] | None = None  # simulated time for rings nobody answers
    _in_line: bool = False
    _play: int | None = None  # the node count of the interruptible play in progress (its token is taken)
    _gone: asyncio.Future[None] | None = None  # resolved when the caller hangs up in line

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

    def _press_during_play(self, escape_digits: str) -> str | None:
        """The key of this play's token that stops it; keys it does not listen for are ignored (it plays on)."""
        while True:
            key = self._next_key(allow_timeout_token=False)
            if key is None:
                return None
            if key in escape_digits:
                self.events.append(f"caller presses {key} (barge-in)")
                return key
            self.events.append(f"caller presses {key} (ignored by the prompt)")
            if not self._buffer:
                return None  # the token is spent: the rest of the play is heard in full

    async def answer(self) -> None:
        self._play = None
        self.events.append("answer")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self._log(f"play {prompt}")
        self._heard(prompt)
        if not escape_digits:
            self._play = None
            return None
        if self._play == self.node():
            return None  # a later prompt of the same play: its token was taken at the first
        self._play = self.node()
        self._opportunity()
        key = self._press_during_play(escape_digits)
        if key:
            self._play = None  # the play stops here
        return key

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        self._play = None
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
        """Done when the caller hangs up while waiting in line (at an input they hang up by CallerHungUp)."""
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        return self._gone

    def hangs_up_in_line(self, why: str) -> None:
        """The caller gives up waiting in line: the wait loop sees the hang-up."""
        self.hung_up = True
        self._log(why)
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        if not self._gone.done():
            self._gone.set_result(None)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self._play = None
        self._opportunity()
        key = self._next_key(allow_timeout_token=True)
        self.events.append(f"caller presses {key}" if key else f"no key within {timeout_ms / 1000:g}s")
        return key

    async def set_variable(self, name: str, value: str) -> None:
        self._play = None
        self.variables[name] = value

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        self._play = None
        self.variables.update(pairs)
        return ()

    async def get_variable(self, name: str) -> str | None:
        self._play = None
        return self.variables.get(name)

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        self._play = None
        return tuple(self.variables.get(name) or None for name in names)

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        self._play = None
        self._log(f"{application}({','.join(args)})")
        if application == "Dial":
            self.variables[channel_variables.DIALSTATUS] = "ANSWER" if self.agents_answer else "NOANSWER"
            if self.agents_answer:
                self._in_line = False  # stamps stop once an agent answers
            elif self.sleep is not None and len(args) > 1 and args[1].isdigit():
                await self.sleep(float(args[1]))  # the phone rings for the dial's timeout (simulated time)
        return 0

    async def hangup(self) -> None:
        self._play = None
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
    routing: tuple[str, ...] = ()  # per route node: the agent picked and why, or the overflow (with `agents`)
    callback: CallbackAsk | None = None  # the callback request the caller made (route node `callback`)

    def report(self) -> str:
        lines = [f"flow {self.flow} (dialplan version {self.version})",
                 f"path:        {' -> '.join(self.path)}",
                 f"prompts:     {', '.join(self.prompts) or '-'}",
                 f"destination: {self.destination or '-'}",
                 *(f"routing:     {reason}" for reason in self.routing),
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
             agents: AgentPicker | None = None, region: str = "US") -> SimulationResult:
    """Runs one simulated call through `flow_name` and returns what happened.

    `customers` is what identify nodes look accounts up in and verify secrets against (any object with the
    `CustomerDirectory` methods); without one, identify nodes go to their `on_failure` node as on a live call
    with no customer store. `agents` picks the agent of each route node's call as the router would (e.g.
    `RoutePreview` over routing.yaml): the caller rings that agent's endpoint after the pick's wait, overflows, or
    waits until they give up (`PATIENCE`); an agent who does not answer is not offered the call again. `line` puts
    route nodes' callers in a simulated line (by default a `SimulatedLine()` when some route node of the plan has
    `announce` or `callback`). With neither, route nodes dial `route_endpoint`. A route node's `callback` is taken
    by a simulated desk reading national numbers in `region`; the request made is `result.callback`.
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
    state = CallState(caller=caller, segment=segment, known=known, language=language)
    queued = line is not None or agents is not None
    channel = ScriptedChannel(digits=list(digits), agents_answer=agents_answer, hangup_after=hangup_after,
                              clock=clock.time if queued else None, node=lambda: len(state.path),
                              sleep=clock.sleep if queued else None)
    options = EngineOptions(route_endpoint=route_endpoint, customers=customers)
    desk = SimulatedDesk(clock, route_endpoint, line, agents, channel.joined_line, channel.hangs_up_in_line)
    callbacks = SimulatedCallbacks(region)
    if queued:
        options = EngineOptions(route_endpoint=route_endpoint, customers=customers, route_desk=desk,
                                wait_clock=clock.time, wait_sleep=clock.sleep, callback_desk=callbacks)
    engine = FlowEngine(options, logging.getLogger("switchboard.simulate"), clock=lambda: moment)
    await clock.drive(engine.run(channel, plan, plan.flows[flow_name], state))
    return SimulationResult(flow=flow_name, path=tuple(state.path), prompts=tuple(state.prompts),
                            destination=state.destination, outcome=state.outcome or "contained",
                            variables=dict(state.variables), channel_variables=dict(channel.variables),
                            intents=tuple(state.intents),
                            events=tuple(channel.events), version=state.version or "",
                            customer_id=state.customer_id, confidence=state.confidence,
                            announcements=tuple(channel.announcements), routing=tuple(desk.picks),
                            callback=callbacks.requests[-1] if callbacks.requests else None)
