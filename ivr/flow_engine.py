"""Runs a YAML flow on one call: node by node over the channel's verbs, recording the path the caller took.

The engine is the same for a live call (an AGI `Channel`) and for the simulator (a scripted channel), so what an
admin simulates is what callers get. Every node kind of `flow_loader.KINDS` is executed here. The engine never
blocks the loop (every step awaits the channel), never loops for ever (a step budget ends a runaway flow as
`failed`), and a caller hang-up at any node ends the run cleanly with the outcome and the last node recorded.

Outcomes: `contained` (ended in self-service), `routed` (an agent answered), `overflow` (a queue sent the caller on
and the flow ended without an agent), `transferred`, `voicemail`,
`abandoned` (the caller hung up in the IVR), `fallback` (the dialplan's fallback takes over), `failed`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Protocol, cast

from switchboard.ivr.channel import STATUS_VARIABLE, CallerHungUp
from switchboard.ivr.flow_hours import Schedule
from switchboard.ivr.flow_model import Dialplan, Flow, Node
from switchboard.ivr.call_ports import (FlowObserver, QueueObserver, QuietFlow, QuietQueue, QuietResolution,
                                        ResolutionObserver, RouteDesk)
from switchboard.ivr.queue_wait import RouteUnavailable, WaitingChannel, wait_and_connect

DTMF = "0123456789*#"
MAX_STEPS = 500
# survey questions: the keys a caller may press and the answer each records
SURVEY_ANSWERS: dict[str, dict[str, str]] = {"resolved": {"1": "yes", "2": "no"},
                                             "csat": {d: d for d in "12345"}}
DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "play": {"barge_in": True},
    "menu": {"timeout": 5.0, "inter_digit_timeout": 2.0, "retries": 2},
    "collect": {"min_digits": 1, "max_digits": 16, "terminator": "#", "timeout": 5.0, "retries": 2},
    "language": {"timeout": 5.0, "retries": 1},
    "route": {"priority": 0, "timeout": 300.0},
    "transfer": {"timeout": 30},
    "identify": {"attempts": 3, "account_digits": 16, "secret_digits": 12, "timeout": 5.0},
    "survey": {"timeout": 5.0, "retries": 1},
}


class CustomerDirectory(Protocol):
    """What identify nodes need from the customer store."""

    async def find_by_account(self, account: str) -> Any: ...

    async def verify(self, customer_id: str, secret: str) -> bool: ...


class ConnectNotice(Protocol):
    """The call's owner, told before a route or transfer node rings anyone (to record what the IVR learnt)."""

    async def before_connect(self, state: CallState) -> None: ...


class FlowChannel(Protocol):
    """The verbs the engine uses (ivr.channel.Channel and the simulator's channel both provide them)."""

    async def answer(self) -> None: ...

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

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
    path: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    confidence: str = "none"       # none, ani (caller-ID match), verified (identify node)
    customer_id: str | None = None
    is_open: bool | None = None
    outcome: str | None = None
    destination: str | None = None
    last_node: str | None = None
    version: str | None = None
    pending_digit: str | None = None
    # called before a route or transfer node rings anyone: the call's owner records what the IVR learnt so far
    # (path, intents, a customer identified on the way) for the screen pop the agent gets while the phone rings
    before_connect: Callable[[CallState], Awaitable[None]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EngineOptions:
    """Settings the engine needs from the service."""

    route_endpoint: str = "PJSIP/agent1"  # until the router exists, route nodes without `endpoint` dial this
    customers: CustomerDirectory | None = None  # identify nodes fail (on_failure) without one
    route_desk: RouteDesk | None = None  # the skills router; without it route nodes dial `route_endpoint`
    queue: QueueObserver = field(default_factory=QuietQueue)
    resolution: ResolutionObserver = field(default_factory=QuietResolution)  # survey answers (FCR, CSAT)


class FlowEngine:
    """Executes flows of one dialplan version; stateless between calls."""

    def __init__(self, options: EngineOptions, logger: logging.Logger,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 observer: FlowObserver | None = None) -> None:
        self._options = options
        self._log = logger
        self._clock = clock
        # (event, "flow.node"): event is "visit", "invalid" or "no_input" (menu inputs), for metrics.
        self._on_event = (observer or QuietFlow()).on_event

    async def run(self, channel: FlowChannel, dialplan: Dialplan, flow: Flow, state: CallState,
                  progress: ConnectNotice | None = None) -> CallState:
        """Runs `flow` from its start to an end; returns the state with outcome and path filled in."""
        if progress is not None:
            state.before_connect = progress.before_connect
        state.version = dialplan.version
        current_flow, name = flow, flow.start
        steps = 0
        try:
            await channel.answer()
            while name is not None:
                steps += 1
                if steps > MAX_STEPS:
                    self._log.error("flow %s: more than %d steps, ended as failed (last node %s)",
                                    current_flow.name, MAX_STEPS, name)
                    state.outcome = "failed"
                    await channel.set_variable(STATUS_VARIABLE, "FAILED")
                    break
                node = current_flow.nodes[name]
                state.path.append(f"{current_flow.name}.{node.name}")
                state.last_node = f"{current_flow.name}.{node.name}"
                if node.intent and node.intent not in state.intents:
                    state.intents.append(node.intent)
                self._on_event("visit", state.last_node)
                if node.kind == "goto":
                    current_flow = dialplan.flows[node.get("flow")]
                    name = current_flow.start
                    continue
                name = await getattr(self, f"_{node.kind}")(channel, node, state)
        except CallerHungUp:
            state.outcome = state.outcome or "abandoned"
        if state.outcome is None:
            state.outcome = "contained"
        return state

    def _opt(self, node: Node, key: str) -> Any:
        return node.get(key, DEFAULTS.get(node.kind, {}).get(key))

    @staticmethod
    def _prompts(value: Any, state: CallState) -> list[str]:
        if not value:
            return []
        by_language: Mapping[str, list[str]] = value["by_language"]
        return list(by_language.get(state.language) or by_language.get("") or next(iter(by_language.values())))

    async def _play_prompts(self, channel: FlowChannel, value: Any, state: CallState, interruptible: bool) -> str | None:
        for prompt in self._prompts(value, state):
            state.prompts.append(prompt)
            digit = await channel.stream_file(prompt, DTMF if interruptible else "")
            if digit:
                return digit
        return None

    # --- node kinds ----------------------------------------------------------------------------------------
    async def _play(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        digit = await self._play_prompts(channel, node.get("prompt"), state, bool(self._opt(node, "barge_in")))
        if digit:
            state.pending_digit = digit  # barge-in: the key belongs to the next menu
        return node.get("next")

    async def _read_keys(self, channel: FlowChannel, node: Node, state: CallState, prompt: Any,
                         longest: int, timeout: float, inter_digit: float, terminator: str | None) -> str:
        """Plays the prompt (interruptible) and reads keys until `longest`, the terminator or a timeout."""
        keys = state.pending_digit or ""
        state.pending_digit = None
        if not keys:
            keys = await self._play_prompts(channel, prompt, state, True) or ""
        if not keys:
            keys = await channel.wait_for_digit(int(timeout * 1000)) or ""
        while keys and len(keys) < longest and not (terminator and keys.endswith(terminator)):
            more = await channel.wait_for_digit(int(inter_digit * 1000))
            if not more:
                break
            keys += more
        return keys

    async def _menu(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        choices: Mapping[str, str] = node.get("choices")
        longest = max(len(k) for k in choices)
        reason = "no_input"
        for attempt in range(int(self._opt(node, "retries")) + 1):
            keys = await self._read_keys(channel, node, state, node.get("prompt"), longest,
                                         self._opt(node, "timeout"), self._opt(node, "inter_digit_timeout"), None)
            if keys in choices:
                return choices[keys]
            reason = "invalid" if keys else "no_input"
            last = attempt == int(self._opt(node, "retries"))
            if not last:
                await self._play_prompts(channel, node.get(f"{reason}_prompt"), state, False)
            self._on_event(reason, state.last_node or node.name)
        return node.get(f"on_{reason}") or node.get("on_failure")

    async def _collect(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        terminator = self._opt(node, "terminator")
        pattern = node.get("pattern")
        for attempt in range(int(self._opt(node, "retries")) + 1):
            keys = await self._read_keys(channel, node, state, node.get("prompt"),
                                         int(self._opt(node, "max_digits")) + 1, self._opt(node, "timeout"),
                                         self._opt(node, "timeout"), terminator)
            value = keys[:-1] if terminator and keys.endswith(terminator) else keys
            ok = (self._opt(node, "min_digits") <= len(value) <= self._opt(node, "max_digits")
                  and (pattern is None or re.fullmatch(pattern, value) is not None))
            if ok:
                name = node.get("variable")
                state.variables[name] = value
                await channel.set_variable(name, value)
                return node.get("next")
            if attempt < int(self._opt(node, "retries")):
                await self._play_prompts(channel, node.get("invalid_prompt"), state, False)
        return node.get("on_failure")

    async def _language(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        choices: Mapping[str, str] = node.get("choices")
        for _ in range(int(self._opt(node, "retries")) + 1):
            keys = await self._read_keys(channel, node, state, node.get("prompt"), 1, self._opt(node, "timeout"),
                                         1.0, None)
            if keys in choices:
                state.language = choices[keys]
                await channel.set_variable("CHANNEL(language)", state.language)
                break
        return node.get("next")

    async def _branch(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        for rule in node.get("conditions"):
            if all(self._holds(key, expected, state) for key, expected in rule["when"].items()):
                return str(rule["goto"])
        return node.get("else")

    @staticmethod
    def _holds(key: str, expected: Any, state: CallState) -> bool:
        if key == "segment":
            return state.segment in expected
        if key == "language":
            return state.language in expected
        if key == "known":
            return state.known == expected
        if key == "open":
            return bool(state.is_open) == expected
        source = state.variables if key == "variable" else state.customer
        return all(source.get(k) == v for k, v in expected.items())

    async def _hours(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        status = Schedule.from_fields(node.fields).status(self._clock())
        state.is_open = status == "open"
        if status == "holiday":
            return node.get("holiday") or node.get("closed")
        return node.get(status)

    async def _set(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        for name, value in node.get("variables").items():
            state.variables[name] = value
            await channel.set_variable(name, value)
        return node.get("next")

    async def _dial(self, channel: FlowChannel, state: CallState, endpoint: str, timeout: int) -> str:
        state.destination = endpoint
        await channel.exec("Dial", endpoint, str(timeout), "g")  # g: the call goes on when the agent hangs up
        return await channel.get_variable("DIALSTATUS") or "UNKNOWN"

    async def _route(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        skills = ",".join(f"{k}:{v}" for k, v in node.get("skills").items())
        await channel.set_variable("SWITCHBOARD_SKILLS", skills)
        if state.before_connect is not None:
            await state.before_connect(state)
        desk = self._options.route_desk
        if desk is not None and not node.get("endpoint"):
            return await self._route_by_skills(cast(WaitingChannel, channel), desk, node, state)
        endpoint = node.get("endpoint") or self._options.route_endpoint
        try:
            status = await self._dial(channel, state, endpoint, int(min(self._opt(node, "timeout"), 600)))
        except CallerHungUp:
            status = await self._status_after_hangup(channel)
            state.outcome = "routed" if status == "ANSWER" else "abandoned"
            raise
        if status == "ANSWER":
            state.outcome = "routed"
            return node.get("after")  # the agent hung up first: e.g. a survey, else the call ends
        return node.get("overflow")

    async def _route_by_skills(self, channel: WaitingChannel, desk: RouteDesk, node: Node,
                               state: CallState) -> str | None:
        wanted = dict(node.get("skills"))
        queue = node.get("queue") or next(iter(wanted))
        state.destination = f"queue:{queue}"
        state.queue = queue
        try:
            done = await wait_and_connect(
                channel, desk, state.uniqueid or "unknown", skills=wanted,
                language=node.get("language") or "", segment=state.segment, customer=state.customer_id or "",
                priority=float(node.get("priority") or 0), relaxation=node.get("relaxation"), queue=queue,
                observer=self._options.queue)
        except CallerHungUp:
            state.outcome = "abandoned"
            raise
        except RouteUnavailable as exc:
            self._log.error("call %s: router unavailable (%s): sent to the dialplan's fallback", state.uniqueid, exc)
            state.outcome = "fallback"
            await channel.set_variable(STATUS_VARIABLE, "FALLBACK")
            return None
        if done.result == "answered":
            state.outcome = "routed"
            state.destination = f"agent:{done.agent}"
            if done.caller_hung_up:
                raise CallerHungUp("caller hung up after talking to the agent")
            return node.get("after")  # the agent hung up first: e.g. a survey, else the call ends
        return node.get("overflow")

    async def _survey(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        """One question after the agent leg: resolved (1 yes, 2 no) or satisfaction (1-5); silence is no answer."""
        question = node.get("question")
        valid = SURVEY_ANSWERS[question]
        for _attempt in range(int(self._opt(node, "retries")) + 1):
            keys = await self._read_keys(channel, node, state, node.get("prompt"), 1, self._opt(node, "timeout"),
                                         1.0, None)
            if keys in valid:
                answer = valid[keys]
                state.variables[f"survey_{question}"] = answer
                self._options.resolution.survey(state.path[0].split(".", 1)[0] if state.path else "", question, answer)
                return node.get("next")
            if not keys:
                break
        self._on_event("survey_unanswered", state.last_node or node.name)
        return node.get("next")

    async def _transfer(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        if state.before_connect is not None:
            await state.before_connect(state)
        try:
            status = await self._dial(channel, state, node.get("to"), int(self._opt(node, "timeout")))
        except CallerHungUp:
            state.outcome = "transferred" if await self._status_after_hangup(channel) == "ANSWER" else "abandoned"
            raise
        if status == "ANSWER":
            state.outcome = "transferred"
            self._options.queue.transferred(state.queue or "ivr")
        else:
            state.outcome = "fallback"  # never dead air: the dialplan's fallback rings a human
            await channel.set_variable(STATUS_VARIABLE, "FALLBACK")
        return None

    async def _voicemail(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        state.destination = f"voicemail:{node.get('mailbox')}"
        state.outcome = "voicemail"
        await channel.exec("VoiceMail", node.get("mailbox"), "u")
        return None

    async def _hangup(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        await self._play_prompts(channel, node.get("prompt"), state, False)
        if state.outcome is None:  # a goodbye after the agent leg (e.g. a survey) keeps the call `routed`
            # after a queue sent the caller on (overflow) the IVR did not resolve the call: not `contained`
            state.outcome = "overflow" if state.queue else "contained"
            state.destination = "hangup"
        await channel.hangup()
        return None

    async def _identify(self, channel: FlowChannel, node: Node, state: CallState) -> str | None:
        """Identify & verify: the account number (unless caller ID found the customer), then the secret."""
        directory = self._options.customers
        if directory is None:
            self._log.error("identify node %s: no customer store configured", node.name)
            return node.get("on_failure")
        timeout = self._opt(node, "timeout")
        customer = None
        if state.customer_id:
            customer = {"id": state.customer_id}
        for attempt in range(int(self._opt(node, "attempts"))):
            if customer is None:
                keys = await self._read_keys(channel, node, state, node.get("account_prompt"),
                                             int(self._opt(node, "account_digits")) + 1, timeout, timeout, "#")
                account = keys.rstrip("#")
                found = await self._lookup_account(directory, account) if account.isdigit() else None
                if found is None:
                    self._on_event("identify_unknown_account", state.last_node or node.name)
                    await self._play_prompts(channel, node.get("invalid_prompt"), state, False)
                    continue
                customer = {"id": found.id, "segment": found.segment, "language": found.language,
                            "account": account}
            keys = await self._read_keys(channel, node, state, node.get("secret_prompt"),
                                         int(self._opt(node, "secret_digits")) + 1, timeout, timeout, "#")
            if await self._verify(directory, customer["id"], keys.rstrip("#")):
                state.customer_id = customer["id"]
                state.known = True
                state.confidence = "verified"
                # attach the record as caller-ID recognition does, for `customer:` conditions of later branches
                state.customer = {**state.customer, **{k: str(v) for k, v in customer.items() if v}}
                if customer.get("segment"):
                    state.segment = customer["segment"]
                await channel.set_variable("SWITCHBOARD_CUSTOMER_ID", state.customer_id)
                await channel.set_variable("SWITCHBOARD_CONFIDENCE", "verified")
                await channel.set_variable("SWITCHBOARD_SEGMENT", state.segment)
                self._on_event("identify_verified", state.last_node or node.name)
                return node.get("next")
            self._on_event("identify_wrong_secret", state.last_node or node.name)
            await self._play_prompts(channel, node.get("invalid_prompt"), state, False)
        self._on_event("identify_failed", state.last_node or node.name)
        return node.get("on_failure")

    async def _lookup_account(self, directory: CustomerDirectory, account: str) -> Any:
        try:
            return await directory.find_by_account(account)
        except Exception as exc:  # the store's trouble: treat as not found, the caller goes on
            self._log.warning("identify: account lookup failed (%s)", type(exc).__name__)
            return None

    async def _verify(self, directory: CustomerDirectory, customer_id: str, secret: str) -> bool:
        if not secret.isdigit():
            return False
        try:
            return await directory.verify(customer_id, secret)
        except Exception as exc:
            self._log.warning("identify: verification failed (%s)", type(exc).__name__)
            return False

    @staticmethod
    async def _status_after_hangup(channel: FlowChannel) -> str:
        try:
            return await channel.get_variable("DIALSTATUS") or "UNKNOWN"
        except CallerHungUp:
            return "UNKNOWN"
