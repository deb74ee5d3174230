"""The chaos suite's independent witness: Asterisk's own AMI events (read with pyst2) and Redis agent samples, turned
into per-call facts and the counts each fault is judged by.

The observer logs in as its own read-only AMI user (never the service's), keeps every event with its arrival time
and reconnects when Asterisk restarts; channels alive when the link dropped count as cut by the fault. A sampler
thread reads the agents' router state from Redis four times a second, so a reservation held for a call whose
channel is gone is seen from outside the service.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import redis
from asterisk.manager import Manager, ManagerException

CALLER_PREFIX = "PJSIP/callers-"
AGENT_PREFIX = "PJSIP/agent"
ROUTER_CONTEXT = "from-callers"  # the router's Dial runs from the AGI, in the caller's own context


@dataclass
class CallFacts:
    """One caller channel as Asterisk reported it."""

    uid: str
    placed: float
    ended: float | None = None
    cut: bool = False  # alive when the observer lost Asterisk (the restart ended it)
    router_agent: str = ""  # an agent answered the router's Dial
    fallback_agent: str = ""  # an agent answered the dialplan fallback's Dial
    fallback_reason: str = ""
    in_line: list[list[float]] = field(default_factory=list)  # [on hold from, sent on at]

    def sent_on(self, at: float) -> None:
        if self.in_line and len(self.in_line[-1]) == 1:
            self.in_line[-1].append(at)


@dataclass
class Bridge:
    agent: str
    caller: str
    channel: str
    start: float
    end: float | None = None


class AsteriskWitness:
    """Records calls from Asterisk's events; `wait_idle` blocks (on a condition) until no caller channel is left."""

    manager_type: type[Manager] = Manager  # the pyst2 client class (bench/knee.py passes a buffered one)

    def __init__(self, secret: str, username: str, port: int = 5038) -> None:
        self._secret, self._username, self._port = secret, username, port
        self.calls: dict[str, CallFacts] = {}
        self.bridges: list[Bridge] = []
        self._dialling: dict[str, tuple[str, str]] = {}  # agent channel → (caller uid, context)
        self.disconnects: list[float] = []
        self._shutting_down = False  # Asterisk announced its shutdown: the hang-ups that follow are the fault's
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._manager: Manager | None = None
        self._connect()
        self._thread = threading.Thread(target=self._keep_connected, daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        manager = self.manager_type()
        manager.connect("127.0.0.1", self._port)
        manager.login(self._username, self._secret)
        manager.register_event("*", self._on_event)
        with self._changed:
            self._shutting_down = False
        self._manager = manager

    def _keep_connected(self) -> None:
        while not self._stop.is_set():
            manager = self._manager
            if manager is not None and not manager.connected():
                now = time.monotonic()
                with self._changed:
                    self.disconnects.append(now)
                    for call in self.calls.values():
                        if call.ended is None:
                            call.ended, call.cut = now, True
                            call.sent_on(now)
                    for bridge in self.bridges:
                        if bridge.end is None:
                            bridge.end = now
                    self._changed.notify_all()
                self._manager = None
            if self._manager is None:
                try:
                    self._connect()
                except (ManagerException, OSError):
                    pass  # Asterisk is still restarting
            self._stop.wait(0.2)  # reconnect pace: a dead socket raises no event to wait on

    def _on_event(self, event: object, _manager: object) -> None:
        name: str = getattr(event, "name", "")
        fields: dict[str, str] = dict(getattr(event, "headers", {}))
        now = time.monotonic()
        with self._changed:
            self._apply(name, fields, now)
            self._changed.notify_all()

    def _apply(self, name: str, e: dict[str, str], now: float) -> None:
        uid, channel = e.get("Uniqueid", ""), e.get("Channel", "")
        if name == "Shutdown":
            self._shutting_down = True
            return
        if name == "Newchannel" and channel.startswith(CALLER_PREFIX):
            self.calls[uid] = CallFacts(uid, now)
            return
        call = self.calls.get(uid)
        if name == "MusicOnHoldStart" and call is not None:
            call.in_line.append([now])
        elif name == "MusicOnHoldStop" and call is not None:
            call.sent_on(now)
        elif name == "DialBegin" and call is not None:
            call.sent_on(now)
            self._dialling[e.get("DestChannel", "")] = (uid, e.get("Context", ""))
        elif name == "DialEnd" and call is not None and e.get("DialStatus") == "ANSWER":
            dest = e.get("DestChannel", "")
            agent = dest[len("PJSIP/"):].split("-")[0]
            if e.get("Context") == ROUTER_CONTEXT:
                call.router_agent = agent
                self.bridges.append(Bridge(agent, uid, dest, now))
            else:
                call.fallback_agent = agent
        elif name == "UserEvent" and e.get("UserEvent") == "SwitchboardFallback" and call is not None:
            call.fallback_reason = e.get("Reason", "")
            call.sent_on(now)
        elif name == "Hangup":
            if call is not None and call.ended is None:
                call.ended, call.cut = now, self._shutting_down
                call.sent_on(now)
            for bridge in self.bridges:
                if bridge.channel == channel and bridge.end is None:
                    bridge.end = now

    def live_callers(self) -> int:
        return sum(1 for c in self.calls.values() if c.ended is None)

    def wait_for(self, check: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(check, timeout)

    def close(self) -> None:
        self._stop.set()
        if self._manager is not None:
            try:
                self._manager.logoff()
                self._manager.close()
            except (ManagerException, OSError, ValueError):
                pass  # pyst2 raises these when Asterisk already closed the link


@dataclass
class ReservationSample:
    at: float
    agent: str
    state: str
    call: str


class ReservationSampler:
    """Reads each agent's router state and reserved call from Redis every 0.25 s (Redis away: no sample)."""

    def __init__(self, url: str, agents: list[str]) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, decode_responses=True)
        self._agents = agents
        self.samples: list[ReservationSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                for agent in self._agents:
                    state, call = self._client.hmget("sb:{sb}:agent:" + agent, "state", "call")
                    self.samples.append(ReservationSample(now, agent, state or "", call or ""))
            except redis.RedisError:
                pass  # the Redis fault itself
            self._stop.wait(0.25)  # sampling period

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()


@dataclass
class FaultCounts:
    """One row of the chaos table."""

    fault: str
    placed: int
    waited_in_line: int
    router_agent: int
    fallback: int
    fallback_agent: int
    cut: int
    unaccounted: int
    longest_stranded: float
    longest_stale_reservation: float
    double_assignments: int
    routed_after_recovery: int
    fault_from: float = 0.0
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    unaccounted_calls: list[CallFacts] = field(default_factory=list)

    HEADER = ("fault", "placed", "in line", "agent(router)", "fallback", "agent(fallback)", "cut", "unaccounted",
              "stranded max s", "stale resv max s", "double", "routed after")

    def row(self) -> tuple[str, ...]:
        return (self.fault, str(self.placed), str(self.waited_in_line), str(self.router_agent), str(self.fallback), str(self.fallback_agent),
                str(self.cut), str(self.unaccounted), f"{self.longest_stranded:.1f}",
                f"{self.longest_stale_reservation:.1f}", str(self.double_assignments),
                str(self.routed_after_recovery))


def count(fault: str, witness: AsteriskWitness, sampler: ReservationSampler, fault_from: float,
          recovered_at: float) -> FaultCounts:
    """The counts of one scenario, from Asterisk's events and the Redis samples only."""
    calls = list(witness.calls.values())
    for down in (d for d in witness.disconnects if fault_from <= d <= recovered_at):
        for call in calls:  # Asterisk itself went down: what it hung up while stopping was ended by the fault
            if call.ended is not None and fault_from <= call.ended <= down:
                call.cut = True
    stranded = 0.0
    for call in calls:
        for span in call.in_line:
            start = max(span[0], fault_from)
            end = min(span[1] if len(span) > 1 else time.monotonic(), recovered_at)
            if end > start:  # in line while the fault lasted
                stranded = max(stranded, end - start)
    ended_at = {c.uid: c.ended for c in calls if c.ended is not None}
    stale = 0.0
    for sample in sampler.samples:
        gone = ended_at.get(sample.call)
        if sample.state in ("reserved", "ringing") and gone is not None and sample.at > gone:
            stale = max(stale, sample.at - gone)
    doubles = 0
    by_agent: dict[str, list[Bridge]] = {}
    for bridge in witness.bridges:
        by_agent.setdefault(bridge.agent, []).append(bridge)
    for bridges in by_agent.values():
        bridges.sort(key=lambda b: b.start)
        for earlier, later in zip(bridges, bridges[1:]):
            if earlier.end is None or later.start < earlier.end:
                doubles += 1
    accounted = [c for c in calls if c.router_agent or c.fallback_reason or c.fallback_agent or c.cut]
    return FaultCounts(
        fault=fault, placed=len(calls), waited_in_line=sum(1 for c in calls if c.in_line), router_agent=sum(1 for c in calls if c.router_agent),
        fallback=sum(1 for c in calls if c.fallback_reason), fallback_agent=sum(1 for c in calls if c.fallback_agent),
        cut=sum(1 for c in calls if c.cut and not (c.router_agent or c.fallback_reason)),
        unaccounted=len(calls) - len(accounted), longest_stranded=stranded, longest_stale_reservation=stale,
        double_assignments=doubles,
        routed_after_recovery=sum(1 for c in calls if c.router_agent and c.placed > recovered_at),
        fault_from=fault_from,
        fallback_reasons={r: sum(1 for c in calls if c.fallback_reason == r) for r in
                          sorted({c.fallback_reason for c in calls if c.fallback_reason})},
        unaccounted_calls=[c for c in calls if c not in accounted])


def table(rows: list[FaultCounts]) -> str:
    """The counts as a fixed-width table, then the fallback reasons (from the dialplan's UserEvent) per fault."""
    lines = [FaultCounts.HEADER, *(r.row() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(FaultCounts.HEADER))]
    out = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines]
    out += [f"fallback reasons, {r.fault}: " + (", ".join(f"{k} {v}" for k, v in r.fallback_reasons.items()) or "none")
            for r in rows]
    return "\n".join(out)
