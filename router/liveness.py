"""An instance's life in the shared router: its lease, the reaping of dead instances' calls, and whether Redis is
reachable and still holds its state.

Every waiting call and reservation belongs to the instance that took the call (`RouteStore.own`). A heartbeat renews
that instance's lease every `beat` seconds; when a lease lapses (the process died), any live instance's heartbeat
reaps the dead owner's calls in one script: they leave the line for good and their agents are freed. An instance
with a stable id (settings) reaps its own earlier life at start.

Each heartbeat also reads one page of the agents' states (a full pass every few beats at 10,000 agents), the
presence restored after Redis comes back empty; the script stays short however many agents there are.

The same heartbeat tells the callers in line when the router has been unreachable for longer than the deadline
(they go to the dialplan's fallback), and notices Redis coming back empty (the sentinel written at seed is gone):
agents are seeded again from routing.yaml, logins and pauses last seen are restored, and the device states are
read again from AMI through `on_reseed`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from switchboard.router.route_store import Heartbeat, Reaped


@dataclass(frozen=True)
class LivenessSettings:
    """`instance` empty: a random id per process start (a restart's old calls are reaped when its lease lapses)."""

    instance: str = ""
    lease: float = 5.0
    beat: float = 1.0
    unreachable_deadline: float = 5.0

    def instance_id(self) -> str:
        return self.instance or "i-" + uuid.uuid4().hex[:12]


class Reachability:
    """Tracks the last time the router's store answered; `lost` once it has been silent for the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self._last_ok = clock()
        self.lost = False

    def answered(self) -> bool:
        """The store answered; returns True when it had been lost (it is back)."""
        was_lost, self.lost = self.lost, False
        self._last_ok = self._clock()
        return was_lost

    def failed(self) -> bool:
        """The store did not answer; returns True exactly when the deadline has just been passed."""
        if self.lost or self._clock() - self._last_ok < self.deadline:
            return False
        self.lost = True
        return True

    @property
    def silent_for(self) -> float:
        return self._clock() - self._last_ok


class LivenessStore(Protocol):
    """The RouteStore calls the heartbeat makes."""

    async def heartbeat(self, instance: str, lease: float, cursor: str = "0") -> Heartbeat: ...

    async def reap(self, previous: str = "") -> Reaped: ...

    async def action(self, agent: str, action: str, reason: str = "") -> tuple[str, str]: ...


class RouterSide(Protocol):
    """What the heartbeat does to the router: seed, hand out offers, give up the callers in line."""

    async def reseed(self) -> None: ...

    def offer_made(self, uid: str, agent: str) -> None: ...

    def give_up_waiting(self, why: str) -> None: ...


class Liveness:
    """The heartbeat task of one instance."""

    def __init__(self, store: LivenessStore, router: RouterSide, settings: LivenessSettings, logger: logging.Logger,
                 on_reseed: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.router = router
        self.settings = settings
        self.instance = settings.instance_id()
        self.log = logger
        self.on_reseed = on_reseed
        self.reachability = Reachability(settings.unreachable_deadline, clock)
        self.presence: dict[str, str] = {}  # agent → state, as last seen in a seeded Redis
        self._cursor = "0"  # the heartbeat reads the states a page per beat; this is where the next page starts
        self._pass: dict[str, str] = {}  # the pages of the current pass
        self.reseeds = 0
        self.reaped = 0

    async def start(self) -> None:
        """Before taking calls: this instance's earlier life (same stable id) is cleaned up at once."""
        if self.settings.instance:
            try:
                done = await self.store.reap(self.instance)
                self._reaped(done, "its earlier life")
            except Exception as exc:  # Redis away: the lease lapse reaps it later
                self.log.warning("could not clean up this instance's earlier calls (%s)", type(exc).__name__)

    async def run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.settings.beat)  # periodic by design: the lease is renewed on a clock

    async def beat(self) -> None:
        """One heartbeat: renew the lease, reap dead owners, notice an empty Redis or an unreachable one."""
        try:
            seen = await asyncio.wait_for(self.store.heartbeat(self.instance, self.settings.lease, self._cursor),
                                          max(0.2, self.settings.beat))
            if not seen.seeded:
                self._cursor, self._pass = "0", {}
                await self._reseed()
            else:
                self._see(seen)
                self._reaped(await asyncio.wait_for(self.store.reap(), max(0.2, self.settings.beat)), "dead owners")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away or slow: the callers in line are sent on after the deadline
            if self.reachability.failed():
                self.log.warning("router store unreachable for %.1fs (%s): callers in line go to the fallback",
                                 self.reachability.silent_for, type(exc).__name__)
                self.router.give_up_waiting("router-unreachable")
            return
        if self.reachability.answered():
            self.log.info("router store reachable again")

    def _see(self, seen: Heartbeat) -> None:
        """One page of states: known at once; a finished pass replaces the whole picture (agents gone drop out)."""
        self.presence.update(seen.states)
        self._pass.update(seen.states)
        self._cursor = seen.cursor
        if seen.cursor == "0":
            self.presence, self._pass = self._pass, {}

    def _reaped(self, done: Reaped, whose: str) -> None:
        if done.released:
            self.reaped += done.released
            self.log.warning("%d call(s) of %s left the line; their agents are free", done.released, whose)
        for uid in done.assigned:
            self.router.offer_made(uid, "")

    async def _reseed(self) -> None:
        self.log.warning("router state missing in Redis (restarted empty?): seeding agents again")
        self.router.give_up_waiting("router-state-lost")  # their calls are gone from Redis
        await self.router.reseed()
        for agent, state in self.presence.items():
            if state == "logged_out":
                continue
            await self.store.action(agent, "login")
            if state == "paused":
                await self.store.action(agent, "pause", "restored")
        self.reseeds += 1
        if self.on_reseed is not None:
            await self.on_reseed()
