"""The callback desk: the service-side owner of callback requests, from the caller's key press to the final outcome.

A caller who takes a route node's callback (ivr/queue_callback.py) hands the desk its waiting call; the desk's
store script turns it into a request with the call's ORIGINAL enqueue time, still in the router's line (priority
and aging as before), owned by the desk instead of the caller's channel. The desk is an owner like an instance
(router/liveness.py): it holds a lease (`claim`), renewed every beat, so its requests in line have an owner that
can die. When the holder dies, the reaper takes its calls out of line; the next holder (the same service
restarted, or another instance) reaps what is left, closes attempts that were in flight (outcome `interrupted`),
and puts every pending request back in line with its original time. Requests live in Redis (router/callback_store.py).

When the router reserves an agent for a request, the desk first moves it atomically from waiting to dialing
(counting the attempt: never two originations for one attempt), then asks its `CallbackDialer` (AMI Originate by
the least-privilege user, cti/originate.py) to call the agent, then the customer (or the reverse). An agent who
does not answer costs no attempt: the request stays in line for the next agent (the agent gets the router's
ring-no-answer treatment). Each attempt's outcome is kept (answered, busy, no-answer, failed, agent-missed); a
failed attempt leaves the line and joins it again `retry_after` later, up to `max_attempts`, then the request ends
as `failed`. Scheduled requests (a not-before time) join the line when their time comes. A customer who calls in
again and reaches an agent cancels their pending requests. The agent's screen pop says it is a callback.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from switchboard.router.callback_store import CallbackRecord, CallbackStore

HOLD_REFRESH = 10.0  # seconds between reservation refreshes while the desk's call rings or lasts
ADOPT_EVERY = 5  # beats between looks for requests in line that this desk does not serve yet
CUSTOMER_OUTCOMES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no-answer", "CANCEL": "no-answer"}


@dataclass(frozen=True)
class CallbackCall:
    """One origination: the request, the agent's device, the customer's number, who is called first."""

    request: str
    agent_endpoint: str
    number: str
    order: str
    ring_seconds: float


@dataclass(frozen=True)
class DialOutcome:
    """How the two legs went: each answered, busy, no-answer or failed ("" when the leg was never tried)."""

    first: str
    second: str = ""


class CallbackDialer(Protocol):
    """Places a callback (implemented by cti's originate module over AMI)."""

    async def dial(self, call: CallbackCall) -> DialOutcome: ...


class OfferLike(Protocol):
    @property
    def agent(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


class DeskTicket(Protocol):
    """The router's ticket of a request's call (router/call_router.py `Ticket`)."""

    @property
    def ring_timeout(self) -> float: ...

    async def wait(self) -> OfferLike | None: ...

    async def hold(self, agent: str) -> None: ...

    async def not_answered(self, agent: str) -> None: ...

    async def finished(self, agent: str) -> None: ...

    def leave(self) -> Awaitable[None]: ...


class DeskRouter(Protocol):
    """What the desk needs from the router: a ticket for a call already in line, and the reaper."""

    async def adopt(self, uid: str, *, customer: str, queue: str, skills: dict[str, int], language: str,
                    relaxation: str | None = None) -> DeskTicket: ...

    async def reap_owner(self, owner: str) -> None: ...


class CallbackEvents(Protocol):
    """What the desk reports (metrics): offers, accepted requests, attempts with outcome, final outcomes."""

    def offered(self, queue: str) -> None: ...

    def accepted(self, queue: str) -> None: ...

    def attempted(self, queue: str, outcome: str) -> None: ...

    def connected(self, queue: str) -> None: ...

    def failed(self, queue: str) -> None: ...


class QuietCallbacks:
    """CallbackEvents that report nothing."""

    def offered(self, queue: str) -> None:
        """Ignores an offer."""

    def accepted(self, queue: str) -> None:
        """Ignores a request."""

    def attempted(self, queue: str, outcome: str) -> None:
        """Ignores an attempt."""

    def connected(self, queue: str) -> None:
        """Ignores a connected callback."""

    def failed(self, queue: str) -> None:
        """Ignores a failed callback."""


class AskLike(Protocol):
    """A caller's request (ivr/queue_callback.py `CallbackAsk`)."""

    @property
    def uid(self) -> str: ...

    @property
    def number(self) -> str: ...

    @property
    def customer(self) -> str: ...

    @property
    def queue(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def max_attempts(self) -> int: ...

    @property
    def retry_after(self) -> float: ...

    @property
    def order(self) -> str: ...

    @property
    def not_before(self) -> float | None: ...


@dataclass(frozen=True)
class DeskSettings:
    """The desk's id (an owner in the router), lease and beat (seconds), and the region of keyed numbers."""

    desk_id: str = "callback-desk"
    lease: float = 5.0
    beat: float = 1.0
    region: str = "GB"


def parse_skills(text: str) -> dict[str, int]:
    """`billing:3,sales:1` → {billing: 3, sales: 1}."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, level = part.partition(":")
        if name and level.isdigit():
            out[name] = int(level)
    return out


def request_id(uid: str) -> str:
    """The request id of a caller's call: also the dialplan extension the callback is originated to."""
    return "cb-" + uid


class CallbackDesk:
    """Takes requests from callers, keeps them in line, and calls back when an agent is reserved."""

    def __init__(self, store: CallbackStore, router: DeskRouter, dialer: CallbackDialer, instance: str,
                 settings: DeskSettings, logger: logging.Logger, events: CallbackEvents | None = None,
                 pop: Callable[[str, CallbackRecord, int], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.router = router
        self.dialer = dialer
        self.instance = instance
        self.settings = settings
        self.log = logger
        self.events: CallbackEvents = events or QuietCallbacks()
        self.pop = pop
        self.holding = False  # this instance runs the desk now
        self.serving: dict[str, asyncio.Task[None]] = {}  # request id → the task waiting for its agent
        self._runner: asyncio.Task[None] | None = None
        self.attempts_made = 0
        self._beats = 0

    # --- the port the route node uses (ivr/queue_callback.py CallbackDesk) -----------------------------------
    @property
    def region(self) -> str:
        return self.settings.region

    def offered(self, queue: str) -> None:
        self.events.offered(queue)

    async def take(self, ask: AskLike) -> str | None:
        """The caller's waiting call becomes a request with its place; its id, or None when it is not waiting."""
        rid = request_id(ask.uid)
        not_before_ms = int(ask.not_before * 1000) if ask.not_before else 0
        placed = await self.store.take(ask.uid, rid, self.settings.desk_id, ask.number, ask.customer,
                                       ask.language, ask.order, ask.max_attempts, ask.retry_after, not_before_ms)
        if placed == 0:
            return None
        self.events.accepted(ask.queue)
        self.log.info("callback %s requested (%s)", rid, "in line" if placed == 1 else "scheduled")
        if placed == 1 and self.holding:
            await self._serve(rid)  # else the instance holding the desk adopts it at its next beat
        return rid

    async def reached_agent(self, number: str) -> None:
        """A customer who called in reached an agent: their pending requests are cancelled."""
        for rid in await self.store.cancel_for(number):
            task = self.serving.pop(rid, None)
            if task is not None:
                task.cancel()
            self.log.info("callback %s cancelled: the customer reached an agent", rid)

    # --- life ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stops serving and gives the lease up; requests stay in Redis (the next holder — another instance, or
        this service restarted — puts them back in line at its next beat)."""
        if self._runner is not None:
            self._runner.cancel()
        await self.stop_serving()
        if self.holding:
            self.holding = False
            try:
                await self.store.release(self.settings.desk_id, self.instance)
            except Exception as exc:  # Redis away: the lease lapses by itself
                self.log.warning("callback desk lease not released (%s); it lapses in %.0fs", type(exc).__name__,
                                 self.settings.lease)

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the lease may lapse; the next beat tries again
                self.log.warning("callback desk beat failed (%s)", type(exc).__name__)
            await asyncio.sleep(self.settings.beat)  # periodic by design: the lease is renewed on a clock

    async def beat(self) -> None:
        """One beat: hold the lease; on taking the desk over, recover; then let due requests into the line."""
        holding = await self.store.claim(self.settings.desk_id, self.instance, self.settings.lease)
        if holding and not self.holding:
            self.holding = True
            await self.recover()
        elif not holding and self.holding:
            self.log.warning("callback desk lost its lease: another instance serves the requests now")
            self.holding = False
            await self.stop_serving()
        if self.holding:
            for rid in await self.store.due():
                if await self.store.enter(rid, self.settings.desk_id):
                    await self._serve(rid)
            self._beats += 1
            if self._beats % ADOPT_EVERY == 0:
                await self.adopt_unserved()

    async def adopt_unserved(self) -> None:
        """Requests in line that no task of this desk serves (taken on a standby instance) are served here."""
        for rid in await self.store.pending():
            if rid in self.serving:
                continue
            record = await self.store.get(rid)
            if record is not None and record.state == "waiting" and await self.store.enter(rid, self.settings.desk_id):
                await self._serve(rid)

    async def stop_serving(self) -> None:
        """Cancels the tasks waiting for agents (each leaves its ticket) and waits for them to end."""
        tasks = list(self.serving.values())
        for task in tasks:
            task.cancel()
        self.serving.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def recover(self) -> None:
        """The desk was taken over (a start, or its holder died): what is left in line from before is reaped,
        attempts in flight end as `interrupted`, and every pending request joins the line with its original time."""
        await self.router.reap_owner(self.settings.desk_id)
        entered = 0
        for rid in await self.store.pending():
            record = await self.store.get(rid)
            if record is None:
                continue
            if record.state == "dialing":
                state = await self.store.end_attempt(rid, record.attempts, "interrupted")
                self.events.attempted(record.queue, "interrupted")
                if state == "done":
                    self.events.failed(record.queue)
                continue
            if await self.store.enter(rid, self.settings.desk_id):
                await self._serve(rid)
                entered += 1
        self.log.info("callback desk taken by %s: %d pending request(s) back in line", self.instance, entered)

    # --- one request ----------------------------------------------------------------------------------------
    async def _serve(self, rid: str) -> None:
        """A ticket for the request's call, and a task that waits for its agent."""
        if rid in self.serving and not self.serving[rid].done():
            return
        record = await self.store.get(rid)
        if record is None:
            return
        ticket = await self.router.adopt(rid, customer=record.customer, queue=record.queue,
                                         skills=parse_skills(record.skills), language=record.language)
        task = asyncio.get_running_loop().create_task(self._attend(rid, ticket))
        self.serving[rid] = task
        task.add_done_callback(lambda done: self._forget(rid, done))

    def _forget(self, rid: str, task: asyncio.Task[None]) -> None:
        if self.serving.get(rid) is task:
            del self.serving[rid]
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("callback %s: %s", rid, type(task.exception()).__name__)

    async def _attend(self, rid: str, ticket: DeskTicket) -> None:
        """Waits for agents and calls back until the attempt ends (connected, retry later, done)."""
        try:
            while True:
                offer = await ticket.wait()
                record = await self.store.get(rid)
                if record is None:
                    return
                if offer is None:  # overflowed: a callback has nowhere else to go
                    self.log.warning("callback %s overflowed its route's limits; kept for a retry", rid)
                    return
                if not await self._attempt(record, offer, ticket):
                    return
        finally:
            await asyncio.shield(ticket.leave())

    async def _attempt(self, record: CallbackRecord, offer: OfferLike, ticket: DeskTicket) -> bool:
        """One attempt with the reserved agent; True when the request waits in line for the next agent."""
        attempt = await self.store.begin_attempt(record.id, offer.agent, record.attempts)
        if attempt == 0:  # someone else counted it (an echo, another desk): never a second origination
            return False
        self.attempts_made += 1
        keeper = asyncio.get_running_loop().create_task(_keep_reserved(ticket, offer.agent))
        if self.pop is not None:
            try:
                await self.pop(offer.agent, record, attempt)
            except Exception as exc:  # a screen pop never stops the callback
                self.log.warning("callback %s: screen pop failed (%s)", record.id, type(exc).__name__)
        try:
            outcome = await self.dialer.dial(CallbackCall(record.id, offer.endpoint, record.number, record.order,
                                                          ticket.ring_timeout))
        except Exception as exc:  # AMI away or refused: the attempt failed
            self.log.warning("callback %s: origination failed (%s)", record.id, type(exc).__name__)
            outcome = DialOutcome("failed")
        finally:
            keeper.cancel()
        result, counts = attempt_result(record.order, outcome)
        state = await self.store.end_attempt(record.id, attempt, result, counts)
        self.events.attempted(record.queue, result)
        self.log.info("callback %s attempt %d: %s (%s)", record.id, attempt, result, state)
        if result == "answered":
            self.events.connected(record.queue)
            await ticket.finished(offer.agent)
            return False
        if not counts:
            await ticket.not_answered(offer.agent)  # the agent's ring-no-answer; the request stays in line
            return True
        if state == "done":
            self.events.failed(record.queue)
        return False  # out of line until its retry is due (or for good)


def attempt_result(order: str, outcome: DialOutcome) -> tuple[str, bool]:
    """An attempt's outcome and whether it counts against max_attempts (it does once the customer was rung)."""
    if order == "customer_first":
        if outcome.first != "answered":
            return outcome.first or "failed", True
        return ("answered", True) if outcome.second == "answered" else ("agent-missed", True)
    if outcome.first != "answered":
        return "agent-missed", False
    return outcome.second or "failed", True


async def _keep_reserved(ticket: DeskTicket, agent: str) -> None:
    while True:
        await asyncio.sleep(HOLD_REFRESH)  # a refresh period: the reservation's TTL is what it protects
        await ticket.hold(agent)

