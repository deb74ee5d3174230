"""The router as a running service: tickets for waiting calls, offers over Redis pub/sub, timers, agent state feed.

One CallRouter per Switchboard instance. A route node asks for a Ticket; the ticket resolves when Redis reserves an
agent for the call (right away, or later when an agent frees, a relaxation step widens the search, or another
instance frees an agent and publishes the offer). A sweep expires reservations, ends wrap-ups and skip penalties,
and re-checks waiting calls whose offer message might have been lost. Device states from AMI keep agent states
true; `rebuild` re-reads them all after an AMI (re)connect or a restart. Each call is owned by this instance; its
heartbeat (router/liveness.py) renews the lease, reaps dead instances' calls, gives up the callers in line when
Redis stays unreachable past the deadline, and seeds again when Redis comes back empty.
"""
from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Mapping, Sequence

from switchboard.router.device_batch import fold
from switchboard.router.endpoint_map import EndpointMap
from switchboard.router.liveness import Liveness, LivenessSettings
from switchboard.router.route_store import OFFER_LOG_MS, Along, OfferResult, QueueSnapshot, RouteStore
from switchboard.router.routing_config import RoutingConfig
from switchboard.router.wait_estimate import HandleTimes, WaitEstimate, estimate_wait

# Asterisk device states → the agent-state event they mean
DEVICE_EVENTS = {"RINGING": "ringing", "RINGINUSE": "on_call", "INUSE": "on_call", "BUSY": "on_call",
                 "ONHOLD": "on_call", "NOT_INUSE": "idle"}


@dataclass(frozen=True)
class Offer:
    agent: str
    endpoint: str


@dataclass(frozen=True)
class LineAsk:
    """What a waiting call asked for, as the wait estimate needs it: its queue, skills and language."""

    queue: str
    skills: dict[str, int]
    language: str


@dataclass
class RouteEvents:
    """Callbacks for metrics (decision latency and result); no-ops by default."""

    decision: Callable[[float, str], None] = lambda seconds, result: None


def levels_by_skill(agents: Iterable[Mapping[str, int]]) -> dict[str, list[int]]:
    """skill → the levels agents have it at, sorted (for `index_skill`)."""
    levels: dict[str, list[int]] = {}
    for skills in agents:
        for skill, level in skills.items():
            levels.setdefault(skill, []).append(level)
    return {skill: sorted(found) for skill, found in levels.items()}


def index_skill(levels: Mapping[str, Sequence[int]], skills: Mapping[str, int]) -> str:
    """The skill a call waits under: of the skills it asks, the one the fewest agents have at the level asked or
    more (the first on ties; "" = the first). A freed agent then reads fewer calls it cannot serve (those needing
    another skill it lacks); any agent able to serve the call has this skill, so no call is missed."""
    if len(skills) < 2:
        return ""
    counts = {s: len(levels.get(s, ())) - bisect_left(levels.get(s, ()), level) for s, level in skills.items()}
    first = next(iter(skills))
    rarest = min(skills, key=lambda s: (counts[s], s != first))
    return "" if rarest == first else rarest


class Ticket:
    """One call's place in line. `wait()` returns an Offer, or None when the call overflows."""

    def __init__(self, router: "CallRouter", uid: str, first: OfferResult, enqueued: float,
                 steps_after: Iterable[float], customer: str, line: LineAsk | None = None) -> None:
        self._router = router
        self.uid = uid
        self.customer = customer
        self.line = line or LineAsk("", {}, "")
        self._offered_at: float | None = None  # loop time the last offer reached the caller (handle time start)
        self.enqueued = enqueued
        self._result: OfferResult | None = first if first.status in ("assigned", "overflow") else None
        self._wake = asyncio.Event()
        self._steps_after = tuple(steps_after)
        self._timers: list[asyncio.TimerHandle] = []
        self._armed_at: float | None = None  # loop time the relaxation steps count from (`arm`)
        self._closed = False
        self._gone = asyncio.Event()
        self.gone_reason = ""

    @property
    def ring_timeout(self) -> float:
        return self._router.config().ring_timeout

    @property
    def wrap_up(self) -> float:
        """Seconds of after-call work an agent of this call gets (part of the handle time)."""
        return self._router.config().wrap_up

    @property
    def ready(self) -> bool:
        """An offer (or the overflow) is already here: `wait()` will not wait."""
        return self._result is not None

    def _poke(self) -> None:
        if not self._closed:
            self._router.spawn(self._retry())

    async def _retry(self) -> None:
        result = await self._router.timed_offer(lambda: self._router.store.retry(self.uid))
        self.deliver(result)

    def deliver(self, result: OfferResult) -> None:
        """A result straight from the Lua (authoritative): it replaces an unverified pub/sub notice."""
        if result.status in ("assigned", "overflow") and (self._result is None or self._result.status == "notified"):
            self._result = result
            self._wake.set()

    def notify(self, agent: str) -> None:
        """An offer for this call was published (by any instance); `wait()` checks Redis, since the message may be
        the echo of an offer this ticket already had (and the agent then did not answer)."""
        if self._result is None and not self._closed:
            self._result = OfferResult("notified", agent)
            self._wake.set()

    def give_up(self, why: str) -> None:
        """The router cannot serve this call any more (unreachable past the deadline, or its state is lost)."""
        if not self._closed and not self._gone.is_set():
            self.gone_reason = why
            self._gone.set()

    async def unreachable(self) -> str:
        """Returns (the reason) once the router gave this call up; the caller should go to the fallback."""
        await self._gone.wait()
        return self.gone_reason

    async def wait(self) -> Offer | None:
        while True:
            while self._result is None:
                self._start_timers()  # (waiting in line: the relaxation steps' timers run)
                self._wake.clear()
                await self._wake.wait()
            result, self._result = self._result, None
            if result.status != "notified":
                break
            # a notice only says "look": Redis says what is offered now. wait() runs only while the call is in
            # line (an unanswered offer is put back before not_answered returns), so `offered` here is a new offer
            now = await self._router.store.offer_of(self.uid)
            if now.status == "offered" and now.agent:
                result = OfferResult("assigned", now.agent, now.endpoint)
                break
        if result.status == "overflow":
            return None
        self._offered_at = self._router.loop.time()
        endpoint = result.endpoint
        if not endpoint:
            record = await self._router.store.agent(result.agent)
            endpoint = record.endpoint if record else ""
        return Offer(result.agent, endpoint)

    async def hold(self, agent: str) -> None:
        """Keeps the reservation alive while the agent's phone rings or the bridged call lasts."""
        await self._router.store.device(agent, "hold", self._router.config().wrap_up, self.uid)

    async def not_answered(self, agent: str) -> None:
        cfg = self._router.config()
        await self._router.store.ring_no_answer(self.uid, agent, cfg.ring_action, cfg.ring_penalty)
        self._router.log.info("call %s: %s did not answer; back in line", self.uid, agent)
        self.deliver(await self._router.timed_offer(lambda: self._router.store.retry(self.uid)))

    async def finished(self, agent: str) -> None:
        """The bridged call with `agent` ended: wrap-up for the agent, the agent is remembered for FCR, and the call
        leaves routing (one script: `leave()` after this has nothing left to do)."""
        cfg = self._router.config()
        if self._offered_at is not None:  # the agent was kept from the line: ring + talk, then the wrap-up
            self._router.handle_times.record(self.line.queue, self._router.loop.time() - self._offered_at
                                             + cfg.wrap_up)
        if self._closed:  # already out of routing: only the agent's side is left
            state, uid = await self._router.store.device(agent, "ended", cfg.wrap_up, self.uid)
            await self._router.store.remember_agent(self.customer, agent, cfg.last_agent_days)
            if uid:
                self._router.offer_made(uid, agent)
            return
        self._close()
        try:
            state, uid, other = await self._router.store.call_done(self.uid, agent, cfg.wrap_up, self.customer,
                                                                   cfg.last_agent_days)
        except Exception:
            self._closed = False  # not done: `leave()` tries again
            raise
        if uid:
            self._router.offer_made(uid, agent)
        if other:
            self._router.offer_made(other, "")

    async def estimate(self) -> WaitEstimate | None:
        """The call's place in line and its estimated wait (router/wait_estimate.py); None when it is not waiting
        (an agent is reserved, or it left). Seconds are None when there is too little data."""
        if self._closed or self._result is not None:
            return None
        position, agents = await self._router.store.line_view(self.uid, self.line.queue, self.line.skills,
                                                              self.line.language)
        if position <= 0:
            return None
        return estimate_wait(position, agents, self._router.handle_times.recent(self.line.queue))

    def leave(self) -> Awaitable[None]:
        """The call is done with routing (hung up, overflowed or connected): drop it from line and timers. A ticket
        already out of routing (`finished` took it out) has nothing left to do: an awaitable already done, so the
        caller's `shield` makes no task for it."""
        if self._closed:
            return self._router.nothing_left
        return self._leave()

    async def _leave(self) -> None:
        if self._closed:
            return
        self._close()
        other = await self._router.store.leave(self.uid)
        if other:
            self._router.offer_made(other, "")

    def arm(self) -> None:
        """Starts the relaxation steps' clock, once the offer that enqueued the call returned (a step must not be
        tried before the call has waited its time in Redis's clock). Their timers are made when the call waits in
        line (now, or later if an agent was reserved at once and the call comes back to the line): a call offered at
        once, as most are, never needs them. A step already due by then is tried at once."""
        if not self._closed and self._armed_at is None:
            self._armed_at = self._router.loop.time()
            if self._result is None:
                self._start_timers()

    def _start_timers(self) -> None:
        if not self._closed and not self._timers and self._armed_at is not None:
            at, loop = self._armed_at, self._router.loop
            self._timers = [loop.call_at(at + after, self._poke) for after in self._steps_after]

    def drop(self) -> None:
        """The request failed: no timers, not registered (nothing in Redis to leave)."""
        self._close()

    def _close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._router.forget(self.uid)


class CallRouter:
    def __init__(self, store: RouteStore, config: Callable[[], RoutingConfig],
                 loop: asyncio.AbstractEventLoop, logger: logging.Logger, events: RouteEvents | None = None,
                 sweep_interval: float = 0.5, liveness: LivenessSettings | None = None,
                 on_reseed: Callable[[], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.config = config
        self.loop = loop
        self.log = logger
        self.events = events or RouteEvents()
        self._tickets: dict[str, Ticket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweep_interval = sweep_interval
        self._runner: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.snapshot: QueueSnapshot | None = None
        self.snapshot_taken = 0.0
        self.queues: set[str] = set()  # route nodes' queues: given at each reload, or seen in route requests
        self.handle_times = HandleTimes()  # this instance's recent handle times per queue (wait estimates)
        self._subscribed = asyncio.Event()
        self._needs_seed = False
        self._devices: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=10000)
        self._device_task: asyncio.Task[None] | None = None
        self.liveness = Liveness(store, self, liveness or LivenessSettings(), logger, on_reseed)
        self._beat: asyncio.Task[None] | None = None
        self._offers_checked_ms = 0  # Redis time (ms) up to which the offer log was read
        self._levels_of: tuple[RoutingConfig, dict[str, list[int]]] | None = None  # skill → agents' levels, sorted
        self.nothing_left: asyncio.Future[None] = loop.create_future()  # what a ticket out of routing awaits
        self.nothing_left.set_result(None)

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self.seed(self.config())
        except Exception as exc:  # Redis not there yet: start anyway (calls go to the fallback), seed when it is
            self.log.warning("router could not seed agents (%s); will retry", type(exc).__name__)
            self._needs_seed = True
        await self.liveness.start()
        self._beat = self.loop.create_task(self.liveness.run())
        self._listener = self.loop.create_task(self._listen())
        self._runner = self.loop.create_task(self._sweeper())
        self._device_task = self.loop.create_task(self._apply_devices())
        try:  # offers published from now on reach this instance (a dead Redis is retried in the background)
            await asyncio.wait_for(self._subscribed.wait(), 5)
        except asyncio.TimeoutError:
            self.log.warning("router offers channel not subscribed yet; waiting calls are re-checked by the sweep")

    async def stop(self) -> None:
        for task in (self._listener, self._runner, self._device_task, self._beat, *self._tasks):
            if task is not None:
                task.cancel()
        for ticket in list(self._tickets.values()):
            await asyncio.shield(ticket.leave())

    async def seed(self, config: RoutingConfig) -> None:
        """Creates or updates the agents routing.yaml lists (states already in Redis are kept)."""
        for seed in config.agents.values():
            await self.store.upsert_agent(seed)
        await self.store.mark_seeded()

    async def reseed(self) -> None:
        """Redis came back empty: the agents of routing.yaml again (the heartbeat restores logins after)."""
        await self.seed(self.config())

    def give_up_waiting(self, why: str) -> None:
        """Every caller in line is told the router gave up (they go to the dialplan's fallback)."""
        for ticket in list(self._tickets.values()):
            ticket.give_up(why)

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("router task failed: %s", type(task.exception()).__name__)

    # --- calls ----------------------------------------------------------------------------------------
    async def timed_offer(self, offer: Callable[[], Awaitable[OfferResult]]) -> OfferResult:
        started = time.perf_counter()
        result = await offer()
        self.events.decision(time.perf_counter() - started,
                             {"assigned": "assigned", "queued": "queued", "overflow": "overflow"}.get(result.status,
                                                                                                   "no_agent"))
        return result

    async def request(self, uid: str, *, skills: dict[str, int], language: str, segment: str, customer: str,
                      priority: float, relaxation: str | None, queue: str, along: Sequence[Along] = ()) -> Ticket:
        """Puts the call in line (or straight to a free agent); the returned ticket tells what happens. One round
        trip: the offer script also makes this instance the call's owner (before it is offered: a crash never
        leaves it unowned) and reads the customer's last agent; `along` are other stores' steps sent with it
        (the call's context record before anyone rings)."""
        cfg = self.config()
        self.queues.add(queue)
        seg = cfg.segment(segment)
        steps = cfg.steps(relaxation)
        # registered before the offer (and kept when an agent is reserved at once: after a ring-no-answer the call
        # waits in line again), so an offer another instance publishes while this one is on its way is not missed
        ticket = Ticket(self, uid, OfferResult("queued"), time.time(), [s.after for s in steps], customer,
                        LineAsk(queue, dict(skills), language))
        self._tickets[uid] = ticket
        try:
            first = await self.timed_offer(lambda: self.store.offer(
                uid, skills, steps, language, seg.priority + priority, seg.aging, customer, "", queue,
                segment if segment in cfg.segments else "", instance=self.liveness.instance,
                index=self.index_skill(cfg, skills), along=along))
        except BaseException:
            ticket.drop()
            raise
        if first.status == "offered":  # already offered (a repeated request): wait() asks Redis which agent
            ticket.notify(first.agent)
        ticket.deliver(first)
        ticket.arm()
        return ticket

    def index_skill(self, config: RoutingConfig, skills: dict[str, int]) -> str:
        """The skill a call waits under (`index_skill` over routing.yaml's agents; the table kept per config)."""
        if len(skills) < 2:
            return ""
        if self._levels_of is None or self._levels_of[0] is not config:
            self._levels_of = (config, levels_by_skill(seed.skills for seed in config.agents.values()))
        return index_skill(self._levels_of[1], skills)

    def forget(self, uid: str) -> None:
        self._tickets.pop(uid, None)

    def offer_made(self, uid: str, agent: str) -> None:
        ticket = self._tickets.get(uid)
        if ticket is not None and agent:
            ticket.notify(agent)
        elif ticket is not None:
            self.spawn(self._recheck(ticket))

    async def recheck_offers(self) -> None:
        """Offers whose pub/sub message may have been lost reach their tickets: one read of the offer log (the
        reservations since the last look), not one read per waiting call. After a gap longer than the log keeps
        (Redis away), every ticket is re-checked once, in pipelined batches."""
        since = self._offers_checked_ms
        offers, now_ms = await self.store.offers_since(since)
        if since and now_ms - since > OFFER_LOG_MS - 10_000:
            tickets = list(self._tickets.values())
            for start in range(0, len(tickets), 500):
                batch = tickets[start:start + 500]
                for ticket, (state, agent) in zip(batch, await self.store.call_states([t.uid for t in batch])):
                    if state == "offered" and agent:
                        ticket.notify(agent)
        for uid, agent in offers:
            waiting = self._tickets.get(uid)
            if waiting is not None:
                waiting.notify(agent)
        self._offers_checked_ms = now_ms

    async def _recheck(self, ticket: Ticket) -> None:
        state, agent = await self.store.call_state(ticket.uid)
        if state == "offered" and agent:
            ticket.notify(agent)
        elif state in ("", "left"):  # Redis lost it (restarted empty) or a reaper took it: nobody will offer it
            ticket.give_up("router-state-lost")

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async for uid, agent in self.store.offers(self._subscribed.set):
                    backoff = 0.5
                    ticket = self._tickets.get(uid)
                    if ticket is not None:
                        ticket.notify(agent)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: the sweep's re-checks cover what this misses
                if backoff == 0.5:
                    self.log.warning("router offers channel lost (%s); retrying", type(exc).__name__)
            await asyncio.sleep(backoff)  # reconnect backoff: there is no event to await for a dead server
            backoff = min(backoff * 2, 10)

    async def _sweeper(self) -> None:
        rounds = 0
        failing = False
        while True:
            await asyncio.sleep(self._sweep_interval)  # periodic by design: reservation/wrap-up deadlines
            rounds += 1
            try:
                if self._needs_seed:
                    await self.seed(self.config())
                    self._needs_seed = False
                for uid in await self.store.sweep():
                    self.offer_made(uid, "")
                if rounds % 4 == 0:
                    await self.recheck_offers()
                    await self.refresh_snapshot()
                if failing:
                    self.log.info("router store reachable again")
                    failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: say so once, keep trying at the same pace
                if not failing:
                    self.log.warning("router sweep failed (%s); retrying quietly until it recovers",
                                     type(exc).__name__)
                failing = True

    async def refresh_snapshot(self) -> None:
        queues = set(self.queues)  # route nodes' queue names, never skill names (a skill is no queue)
        self.snapshot = await self.store.snapshot(sorted(queues))
        self.snapshot_taken = time.monotonic()

    # --- agent state from AMI -------------------------------------------------------------------------
    def feed_device(self, device: str, state: str) -> None:
        """Takes an AMI DeviceStateChange without blocking the event dispatcher; applied in arrival order."""
        if device.startswith(("PJSIP/", "SIP/", "IAX2/", "Local/", "DAHDI/")) and state.upper() in DEVICE_EVENTS:
            try:
                self._devices.put_nowait((device, state))
            except asyncio.QueueFull:
                self.log.warning("agent device updates backlog full; the next resync corrects states")

    async def _apply_devices(self) -> None:
        """Applies the device states in arrival order, in batches: every state waiting when this task comes round
        (the AMI reader hands over a pass's events together: `ami.read_pause`; more gather while a batch is in
        Redis) is folded (router/device_batch.py: only updates that change nothing are left out) and sent as one
        script call per 200 agents, in one round trip. Devices resolve to agents in memory (EndpointMap: read again
        when routing.yaml changes), so a device with no agent (a trunk) costs Redis nothing."""
        endpoints = EndpointMap(self.store, self.config)
        while True:
            batch = [await self._devices.get()]
            while not self._devices.empty():
                batch.append(self._devices.get_nowait())
            try:
                agents = await endpoints.current()
                updates = fold([(agent, DEVICE_EVENTS[state.upper()]) for device, state in batch
                                if (agent := agents.get(device)) is not None])
                if not updates:
                    continue
                failed = 0
                for (agent, _), result in zip(updates, await self.store.devices(updates, self.config().wrap_up)):
                    if isinstance(result, Exception):
                        failed += 1
                    elif result[1]:
                        self.offer_made(result[1], agent)
                if failed:  # Redis trouble: the resync after it recovers sets states right
                    self.log.warning("%d agent device update(s) not applied", failed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis trouble: the resync after it recovers sets states right
                self.log.warning("agent device update not applied (%s)", type(exc).__name__)

    async def device_state(self, device: str, state: str) -> str | None:
        """Applies an Asterisk device state (e.g. PJSIP/agent1 INUSE); returns the agent's new state."""
        event = DEVICE_EVENTS.get(state.upper())
        if event is None:
            return None
        agent = await self.store.agent_for_endpoint(device)
        if agent is None:
            return None
        new_state, uid = await self.store.device(agent, event, self.config().wrap_up)
        if uid:
            self.offer_made(uid, agent)
        return new_state

    async def rebuild(self, device_states: dict[str, str]) -> int:
        """After an AMI (re)connect: re-applies every agent device's current state (one script call per 200 agents,
        in one round trip); returns agents touched."""
        updates = [(agent, DEVICE_EVENTS[state.upper()]) for endpoint, agent in (await self.store.endpoints()).items()
                   if (state := device_states.get(endpoint)) is not None and state.upper() in DEVICE_EVENTS]
        touched = 0
        for (agent, _), result in zip(updates, await self.store.devices(updates, self.config().wrap_up)):
            if isinstance(result, Exception):
                raise result  # Redis trouble: the caller says so; the next resync sets states right
            if result[1]:
                self.offer_made(result[1], agent)
            touched += 1
        return touched

    async def agent_action(self, agent: str, action: str, reason: str = "") -> str:
        state, uid = await self.store.action(agent, action, reason)
        if uid:
            self.offer_made(uid, agent)
        return state

    # --- calls put in line by another owner (the callback desk, router/callback_desk.py) -------------------
    async def adopt(self, uid: str, *, customer: str, queue: str, skills: dict[str, int], language: str,
                    relaxation: str | None = None) -> Ticket:
        """A ticket on this instance for a call already in line in Redis (put there, with its own owner and
        enqueue time, by the callback desk): an agent is reserved now if one fits, else the ticket is told."""
        self.queues.add(queue)
        first = await self.timed_offer(lambda: self.store.retry(uid))
        ticket = Ticket(self, uid, first, time.time(), [], customer, LineAsk(queue, dict(skills), language))
        self._tickets[uid] = ticket
        if first.status not in ("assigned", "overflow"):
            state, agent = await self.store.call_state(uid)
            if state == "offered":
                ticket.notify(agent)
        return ticket

    async def reap_owner(self, owner: str) -> None:
        """The calls `owner` left in line (waiting or offered) leave it for good, their agents freed now (an
        owner taken over, such as the callback desk on a new holder)."""
        done = await self.store.reap(owner)
        for uid in done.assigned:
            self.offer_made(uid, "")
