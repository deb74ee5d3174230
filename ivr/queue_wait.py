"""The caller's side of a route node: wait in line with music on hold, ring the reserved agent, go back in line.

The routing decisions live in the router; this module only speaks AGI and talks to it through the small
RouteDesk/RouteTicket ports of `ivr.call_ports` (the composition root passes the real router). Whatever happens, the
ticket is left (so no agent stays reserved for a call that is gone), and a caller who hangs up while waiting is
noticed at once through the channel's hang-up notice, not at the next poll. A caller in line whose router gives
up (its store unreachable past the deadline, or its state lost) is sent to the dialplan's fallback at once.

While the caller waits, the announcements of the node's `announce` option (ivr/queue_announcements.py) are played
at their times, driven by this loop through an injected `sleep` (music stops for them and starts again after);
the estimate on entering the line and its error against the actual wait go to the queue observer. The node's
`callback` option is offered the same way, once, at its time (ivr/queue_callback.py).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Protocol

from switchboard.ivr.call_ports import OfferLike, QueueObserver, RouteDesk, RouteTicket, WaitEstimateLike
from switchboard.ivr.queue_announcements import AnnouncePlan, Heard, Play, heard, phrases, worth_saying
from switchboard.ivr.queue_callback import CallbackDesk, CallbackPlan, converse

from switchboard.ivr.channel import AGICommandFailed, CallerHungUp
from switchboard.ivr.channel_variables import AGENT, ANSWEREDTIME, DIALSTATUS

MOH_CLASS = "default"
HOLD_REFRESH = 10.0  # seconds between reservation refreshes while an agent's phone rings or a bridge lasts


ROUTER_UNREACHABLE = "router-unreachable"  # the fallback reason (metrics/fallback_metrics.py) of RouteUnavailable


class RouteUnavailable(Exception):
    """The router could not take the call (its store is unreachable): the caller goes to the dialplan's fallback."""


class WaitingChannel(Protocol):
    """The channel verbs waiting in line needs."""

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int: ...

    async def get_variables(self, *names: str) -> tuple[str | None, ...]: ...

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]: ...

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: ...

    async def say_number(self, number: int, escape_digits: str = "") -> str | None: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    def until_hangup(self) -> Awaitable[None]: ...


@dataclass
class RouteResult:
    """How the route node ended: `answered` (agent), `overflow`, `abandoned`, or `callback` (`agent` is then the
    request id); seconds waited in line."""

    result: str
    agent: str = ""
    waited: float = 0.0
    attempts: int = 0
    caller_hung_up: bool = False  # answered, and the caller was the one who hung up
    wrap_up_unrecorded: str = ""  # answered, but the router could not record the call's end (the error's name)


class ReservationKeeper:
    """Keeps an agent's reservation alive while the agent's phone rings or the bridged call lasts: `ticket.hold` every
    `every` seconds (a refresh period: the reservation's TTL is what it protects), from a timer; a task exists only
    while a hold is in flight. `stop()` ends it (a hold in flight is cancelled)."""

    def __init__(self, ticket: RouteTicket, agent: str, every: float = HOLD_REFRESH) -> None:
        self._ticket = ticket
        self._agent = agent
        self._every = every
        self._loop = asyncio.get_running_loop()
        self._holding: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(every, self._due)

    def _due(self) -> None:
        self._holding = self._loop.create_task(self._hold())

    async def _hold(self) -> None:
        await self._ticket.hold(self._agent)
        self._timer = self._loop.call_later(self._every, self._due)

    def stop(self) -> None:
        self._timer.cancel()
        if self._holding is not None:
            self._holding.cancel()


async def _hang_up(channel: WaitingChannel) -> None:
    await asyncio.shield(channel.until_hangup())


async def _estimate(ticket: RouteTicket) -> WaitEstimateLike | None:
    """The ticket's estimate, or None when the router cannot say (an estimate never breaks a call)."""
    try:
        return await ticket.estimate()
    except Exception as exc:  # Redis away, or a ticket without estimates: the caller just hears no figures
        _ = exc
        return None


class Announcer:
    """One caller's announcements: when the next is due, and what was last said (for `only`)."""

    def __init__(self, plan: AnnouncePlan) -> None:
        self.plan = plan
        self.count = 0
        self.last: Heard | None = None

    def delay(self, elapsed: float) -> float | None:
        """Seconds from now to the next announcement (0: due now), None when no more are due."""
        due = self.plan.due_at(self.count)
        return None if due is None else max(0.0, due - elapsed)

    async def announce(self, channel: WaitingChannel, ticket: RouteTicket, music_on: bool) -> bool:
        """Says the caller's place/estimate if worth it; returns True when it spoke."""
        self.count += 1
        estimate = await _estimate(ticket)
        if estimate is None:
            return False
        now = heard(self.plan, estimate.position, estimate.seconds)
        if not worth_saying(self.plan, now, self.last):
            return False
        self.last = now
        if music_on:
            await channel.exec("StopMusicOnHold")
        for phrase in phrases(now):
            if isinstance(phrase, Play):
                await channel.stream_file(phrase.prompt)
            else:
                await channel.say_number(phrase.number)
        if music_on:
            await channel.exec("StartMusicOnHold", MOH_CLASS)
        return True


@dataclass(frozen=True)
class CallbackOffer:
    """What offering the in-queue callback needs: the node's plan, the desk, and who is calling."""

    plan: CallbackPlan
    desk: CallbackDesk
    uid: str
    caller_id: str | None
    customer: str
    language: str
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # the wall clock of scheduled callbacks


async def _offer_callback(channel: WaitingChannel, offer: CallbackOffer, queue: str, music_on: bool) -> str | None:
    """The offer and its conversation (music stopped meanwhile); the request id when the caller took it."""
    if music_on:
        await channel.exec("StopMusicOnHold")
    offer.desk.offered(queue)
    request = await converse(channel, offer.plan, offer.desk, uid=offer.uid, caller_id=offer.caller_id,
                             customer=offer.customer, queue=queue, language=offer.language, now=offer.now)
    if request is None and music_on:
        await channel.exec("StartMusicOnHold", MOH_CLASS)
    return request


async def _dial_result(channel: WaitingChannel) -> tuple[str | None, str | None]:
    """DIALSTATUS and ANSWEREDTIME in one read, also after the caller hung up (Asterisk still answers then)."""
    try:
        status, answered = await channel.get_variables(DIALSTATUS, ANSWEREDTIME)
    except (CallerHungUp, AGICommandFailed):
        return None, None
    return status, answered


async def wait_and_connect(channel: WaitingChannel, desk: RouteDesk, uid: str, *, skills: dict[str, int],
                           language: str, segment: str, customer: str, priority: float, relaxation: str | None,
                           queue: str, observer: QueueObserver, clock: Callable[[], float] = time.monotonic,
                           announce: AnnouncePlan | None = None,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           callback: CallbackOffer | None = None,
                           variables: dict[str, str] | None = None) -> RouteResult:
    """Runs the route node on a live call. Raises CallerHungUp when the caller leaves before an agent answers
    (after cleaning up); an answered call returns, with `caller_hung_up` telling who ended it. `announce` plays
    position/estimate announcements while the caller waits, timed by `sleep` (tests pass a scripted one).
    `callback` offers the in-queue callback at its time (ivr/queue_callback.py): a caller who takes it ends
    with result `callback` (the request keeps the call's place in line). `variables` (e.g. SWITCHBOARD_SKILLS)
    are set together with SWITCHBOARD_AGENT in one command when an agent is reserved at once, else when the
    caller starts waiting (a caller who leaves the line has them too); the dict is then emptied. Their values come
    from validated YAML: a value the AGI line cannot carry is skipped by the channel."""
    started = clock()
    observer.offered(queue, segment)
    try:
        ticket = await desk.request(uid, skills=skills, language=language, segment=segment, customer=customer,
                                    priority=priority, relaxation=relaxation, queue=queue)
    except Exception as exc:  # whatever broke in the router, this caller must still reach a human
        raise RouteUnavailable(type(exc).__name__) from exc
    result = RouteResult("abandoned")
    answered_at: float | None = None
    watchers: tuple[asyncio.Future[None], asyncio.Future[str]] | None = None  # made when the caller first waits
    announcer = Announcer(announce) if announce is not None else None
    entry_estimate: float | None = None
    offer_task: asyncio.Future[OfferLike | None] | None = None
    try:
        if not ticket.ready:
            entered = await _estimate(ticket)
            entry_estimate = entered.seconds if entered is not None else None
            observer.estimated(queue, entry_estimate)
        offer_due = callback.plan.due_at(entry_estimate) if callback is not None else None
        while True:
            waiting = not ticket.ready  # an agent already reserved: straight to the ring, no music blip
            if not waiting:  # the offer (or the overflow) is already here: nothing to wait for or watch
                offer = await ticket.wait()
            else:
                if watchers is None:  # shielded: cancelling our watcher must not cancel the connection's own
                    # hang-up future (a later route node of the same call watches it again)
                    watchers = (asyncio.ensure_future(_hang_up(channel)),
                                asyncio.ensure_future(ticket.unreachable()))
                hangup, given_up = watchers
                if variables:  # a caller who waits (and may leave) has them on the channel from the start
                    await channel.set_variables(variables)
                    variables.clear()
                offer_task = asyncio.ensure_future(ticket.wait())
                if announcer is not None and announcer.delay(clock() - started) == 0.0:
                    await announcer.announce(channel, ticket, music_on=False)  # on entry: before the music starts
                if callback is not None and offer_due == 0.0:
                    offer_due = None  # offered once
                    request = await _offer_callback(channel, callback, queue, music_on=False)
                    if request is not None:
                        offer_task.cancel()
                        return RouteResult("callback", request, clock() - started, result.attempts)
                await channel.exec("StartMusicOnHold", MOH_CLASS)
                while True:
                    elapsed = clock() - started
                    dues = [d for d in (announcer.delay(elapsed) if announcer is not None else None,
                                        None if offer_due is None else max(0.0, offer_due - elapsed))
                            if d is not None]
                    delay = min(dues) if dues else None
                    tick = asyncio.ensure_future(sleep(delay)) if delay is not None else None
                    watched: set[asyncio.Future[Any]] = {offer_task, hangup, given_up}
                    if tick is not None:
                        watched.add(tick)
                    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    if tick is not None and (tick not in done or len(done) > 1):
                        tick.cancel()
                    if tick is None or done != {tick}:
                        break
                    elapsed = clock() - started
                    if callback is not None and offer_due is not None and offer_due <= elapsed + 1e-9:
                        offer_due = None  # offered once
                        request = await _offer_callback(channel, callback, queue, music_on=True)
                        if request is not None:
                            offer_task.cancel()
                            return RouteResult("callback", request, clock() - started, result.attempts)
                    elif announcer is not None:
                        await announcer.announce(channel, ticket, music_on=True)
                if offer_task not in done:
                    offer_task.cancel()
                    if hangup in done:
                        raise CallerHungUp("caller hung up while waiting in line")
                    await channel.exec("StopMusicOnHold")
                    raise RouteUnavailable(given_up.result())
                offer = offer_task.result()
                await channel.exec("StopMusicOnHold")
            if offer is None:
                result = RouteResult("overflow", waited=clock() - started, attempts=result.attempts)
                return result
            result.attempts += 1
            await channel.set_variables({**(variables or {}), AGENT: offer.agent})  # one MSet before the Dial
            if variables:
                variables.clear()
            keeper = ReservationKeeper(ticket, offer.agent)
            dial_started = clock()
            caller_left: CallerHungUp | None = None
            try:
                await channel.exec("Dial", offer.endpoint, str(int(ticket.ring_timeout)), "g")
            except CallerHungUp as exc:
                caller_left = exc  # after the bridge (caller hung up first) or while the agent's phone rang
            finally:
                keeper.stop()
            read_status, answered = await _dial_result(channel)
            status = read_status or "UNKNOWN"
            if status == "ANSWER":
                talk = float(answered) if answered and answered.replace(".", "", 1).isdigit() else 0.0
                waited = max(0.0, clock() - started - talk)
                result = RouteResult("answered", offer.agent, waited, result.attempts, caller_left is not None)
                answered_at = dial_started
                observer.answered(queue, segment, waited)
                if entry_estimate is not None:
                    observer.estimate_error(queue, waited - entry_estimate)
                observer.handled(queue, segment, talk, ticket.wrap_up)
                try:
                    await ticket.finished(offer.agent)
                except Exception as exc:  # the call was served all the same: `leave()` below tries again, and
                    result.wrap_up_unrecorded = type(exc).__name__  # the reservation's TTL frees the agent otherwise
                return result
            if caller_left is not None:
                raise caller_left
            try:
                await ticket.not_answered(offer.agent)
            except Exception as exc:  # the caller is still on the line and the router cannot offer the next agent
                raise RouteUnavailable(type(exc).__name__) from exc
    except CallerHungUp:
        if answered_at is None:
            observer.abandoned(queue, segment, clock() - started)
        raise
    finally:
        for watcher in watchers or ():
            watcher.cancel()
        if offer_task is not None:
            offer_task.cancel()  # a call cancelled while it waited (the service stopping) leaves no task behind
        try:
            await asyncio.shield(ticket.leave())
        except Exception as exc:  # cleanup must not hide how the call ended; the reservation TTL frees the agent
            _ = exc
