"""The caller's side of a route node: wait in line with music on hold, ring the reserved agent, go back in line.

The routing decisions live in the router; this module only speaks AGI and talks to it through the small
RouteDesk/RouteTicket ports of `ivr.call_ports` (the composition root passes the real router). Whatever happens, the
ticket is left (so no agent stays reserved for a call that is gone), and a caller who hangs up while waiting is
noticed at once through the channel's hang-up notice, not at the next poll. A caller in line whose router gives
up (its store unreachable past the deadline, or its state lost) is sent to the dialplan's fallback at once.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from switchboard.ivr.call_ports import QueueObserver, RouteDesk, RouteTicket

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

    async def get_variable(self, name: str) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    def until_hangup(self) -> Awaitable[None]: ...


@dataclass
class RouteResult:
    """How the route node ended: `answered` (agent), `overflow`, or `abandoned`; seconds waited in line."""

    result: str
    agent: str = ""
    waited: float = 0.0
    attempts: int = 0
    caller_hung_up: bool = False  # answered, and the caller was the one who hung up


async def _keep_reserved(ticket: RouteTicket, agent: str) -> None:
    while True:
        await asyncio.sleep(HOLD_REFRESH)  # a refresh period: the reservation's TTL is what it protects
        await ticket.hold(agent)


async def _hang_up(channel: WaitingChannel) -> None:
    await asyncio.shield(channel.until_hangup())


async def _read(channel: WaitingChannel, name: str) -> str | None:
    """A channel variable, also after the caller hung up (Asterisk still answers GET VARIABLE then)."""
    try:
        return await channel.get_variable(name)
    except (CallerHungUp, AGICommandFailed):
        return None


async def wait_and_connect(channel: WaitingChannel, desk: RouteDesk, uid: str, *, skills: dict[str, int],
                           language: str, segment: str, customer: str, priority: float, relaxation: str | None,
                           queue: str, observer: QueueObserver, clock: Callable[[], float] = time.monotonic) -> RouteResult:
    """Runs the route node on a live call. Raises CallerHungUp when the caller leaves before an agent answers
    (after cleaning up); an answered call returns, with `caller_hung_up` telling who ended it."""
    started = clock()
    observer.offered(queue, segment)
    try:
        ticket = await desk.request(uid, skills=skills, language=language, segment=segment, customer=customer,
                                    priority=priority, relaxation=relaxation, queue=queue)
    except Exception as exc:  # whatever broke in the router, this caller must still reach a human
        raise RouteUnavailable(type(exc).__name__) from exc
    result = RouteResult("abandoned")
    answered_at: float | None = None
    # shielded: cancelling our watcher must not cancel the connection's own hang-up future (a later route node
    # of the same call watches it again)
    hangup = asyncio.ensure_future(_hang_up(channel))
    given_up = asyncio.ensure_future(ticket.unreachable())
    try:
        while True:
            waiting = not ticket.ready  # an agent already reserved: straight to the ring, no music blip
            offer_task = asyncio.ensure_future(ticket.wait())
            if waiting:
                await channel.exec("StartMusicOnHold", MOH_CLASS)
            done, _ = await asyncio.wait({offer_task, hangup, given_up}, return_when=asyncio.FIRST_COMPLETED)
            if offer_task not in done:
                offer_task.cancel()
                if hangup in done:
                    raise CallerHungUp("caller hung up while waiting in line")
                if waiting:
                    await channel.exec("StopMusicOnHold")
                raise RouteUnavailable(given_up.result())
            offer = offer_task.result()
            if waiting:
                await channel.exec("StopMusicOnHold")
            if offer is None:
                result = RouteResult("overflow", waited=clock() - started, attempts=result.attempts)
                return result
            result.attempts += 1
            await channel.set_variable(AGENT, offer.agent)
            keeper = asyncio.ensure_future(_keep_reserved(ticket, offer.agent))
            dial_started = clock()
            caller_left: CallerHungUp | None = None
            try:
                await channel.exec("Dial", offer.endpoint, str(int(ticket.ring_timeout)), "g")
            except CallerHungUp as exc:
                caller_left = exc  # after the bridge (caller hung up first) or while the agent's phone rang
            finally:
                keeper.cancel()
            status = await _read(channel, DIALSTATUS) or "UNKNOWN"
            if status == "ANSWER":
                answered = await _read(channel, ANSWEREDTIME)
                talk = float(answered) if answered and answered.replace(".", "", 1).isdigit() else 0.0
                waited = max(0.0, clock() - started - talk)
                result = RouteResult("answered", offer.agent, waited, result.attempts, caller_left is not None)
                answered_at = dial_started
                observer.answered(queue, segment, waited)
                observer.handled(queue, segment, talk, ticket.wrap_up)
                await ticket.finished(offer.agent)
                return result
            if caller_left is not None:
                raise caller_left
            await ticket.not_answered(offer.agent)
    except CallerHungUp:
        if answered_at is None:
            observer.abandoned(queue, segment, clock() - started)
        raise
    finally:
        hangup.cancel()
        given_up.cancel()
        try:
            await asyncio.shield(ticket.leave())
        except Exception as exc:  # cleanup must not hide how the call ended; the reservation TTL frees the agent
            _ = exc
