"""The callback desk on a real redis-server with a scripted AMI behind the originator: the request keeps its place,
originations and their outcomes, retries and giving up, never two originations for one attempt, a restart that
loses nothing, cancellation, scheduled requests."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Mapping

import pytest
from redis.asyncio import Redis

from switchboard.cti.originate import CONTEXT, CallbackOriginator
from switchboard.ivr.queue_callback import CallbackAsk
from switchboard.router.call_router import CallRouter
from switchboard.router.callback_desk import CallbackDesk, DeskSettings
from switchboard.router.callback_store import CallbackStore
from switchboard.router.liveness import LivenessSettings
from switchboard.router.route_store import PREFIX as P
from switchboard.router.route_store import RouteStore
from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment
from switchboard.callback_wiring import OriginatingDialer

CONFIG = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                       relaxation={"default": ()}, wrap_up=0,
                       agents={"solo": AgentSeed("solo", "Solo", "PJSIP/solo", {"billing": 5}, ("en",))})
NUMBER = "+442079460000"


@dataclass
class ScriptedAMI:
    """Asterisk as the originator sees it: each Originate is recorded and answered by the next scripted result
    (first leg's OriginateResponse Reason, then the second leg's DIALSTATUS in the SwitchboardCallback event)."""

    originator: CallbackOriginator | None = None
    script: list[tuple[str, str]] = field(default_factory=list)  # (Reason, DIALSTATUS); Reason 4 = answered
    sent: list[dict[str, str]] = field(default_factory=list)
    dialled: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    async def __call__(self, name: str, fields: Mapping[str, str]) -> object:
        assert name == "Originate" and self.originator is not None
        self.sent.append(dict(fields))
        reason, status = self.script.pop(0)
        request = fields["Exten"]
        originator = self.originator

        def report() -> None:
            originator.on_ami_event("OriginateResponse", {"Response": "Success" if reason == "4" else "Failure",
                                                          "Reason": reason, "Exten": request})
            if reason == "4":
                originator.on_ami_event("UserEvent", {"UserEvent": "SwitchboardCallback", "Request": request,
                                                      "Status": status})
            self.dialled.put_nowait(request)
        asyncio.get_running_loop().call_soon(report)
        return None


def _parts(redis: Redis, instance: str, ami: ScriptedAMI) -> tuple[CallRouter, CallbackDesk]:
    router = CallRouter(RouteStore(redis), lambda: CONFIG, asyncio.get_running_loop(), logging.getLogger(instance),
                        sweep_interval=60, liveness=LivenessSettings(instance, 5, 1, 5))
    originator = CallbackOriginator(ami, "switchboard_callback")
    ami.originator = originator
    desk = CallbackDesk(CallbackStore(redis), router, OriginatingDialer(originator), instance,
                        DeskSettings("callback-desk", 5, 1, "GB"), logging.getLogger(instance + "-desk"))
    return router, desk


def _ask(uid: str, *, attempts: int = 3, retry_after: float = 0.0, not_before: float | None = None,
         order: str = "agent_first") -> CallbackAsk:
    return CallbackAsk(uid, NUMBER, "cust-1", "billing", "", attempts, retry_after, order, not_before)


async def _in_line(router: CallRouter, uid: str) -> None:
    await router.request(uid, skills={"billing": 3}, language="", segment="standard", customer="",
                         priority=0, relaxation=None, queue="billing")


async def _finish(desk: CallbackDesk, rid: str) -> None:
    task = desk.serving.get(rid)
    if task is not None:
        await task


async def test_callback_keeps_its_place_and_is_originated_agent_first(redis: Redis) -> None:
    """A caller who asked for a callback, then a later caller: the freed agent is reserved for the callback (its
    original enqueue time), the agent is originated first into the callback context, and both legs answer."""
    ami = ScriptedAMI(script=[("4", "ANSWER")])
    router, desk = _parts(redis, "i1", ami)
    await router.seed(CONFIG)
    await desk.beat()
    await _in_line(router, "first")
    first_enq = int(await redis.hget(P + "call:first", "enq"))
    await _in_line(router, "second")
    rid = await desk.take(_ask("first"))
    assert rid == "cb-first"
    assert int(await redis.hget(P + "call:cb-first", "enq")) == first_enq
    assert (await router.store.call_state("first"))[0] == "left"
    await router.agent_action("solo", "login")  # the agent frees: the line's best call gets it
    assert await ami.dialled.get() == "cb-first"
    await _finish(desk, rid)
    sent = ami.sent[0]
    assert (sent["Channel"], sent["Context"], sent["Exten"], sent["Async"]) == ("PJSIP/solo", CONTEXT, rid, "true")
    assert f"SB_CALLBACK_NUMBER={NUMBER}" in sent["Variable"] and "SB_CALLBACK_ORDER=agent_first" in sent["Variable"]
    record = await desk.store.get(rid)
    assert record is not None and (record.state, record.outcome, record.log) == ("done", "connected", "1:answered")
    assert rid not in await desk.store.pending()
    # the later caller got the agent only once the callback had ended (no wrap-up here)
    assert await router.store.call_state("second") == ("offered", "solo")


async def test_failed_attempts_are_retried_then_given_up_with_each_outcome(redis: Redis) -> None:
    """The customer is busy, then does not answer: two attempts (max 2), each with its outcome, and the request
    ends failed; between attempts it left the line and came back (retry due) with its original time."""
    ami = ScriptedAMI(script=[("4", "BUSY"), ("4", "NOANSWER")])
    router, desk = _parts(redis, "i1", ami)
    await router.seed(CONFIG)
    await router.store.action("solo", "login")
    await router.store.action("solo", "pause", "meeting")
    await desk.beat()
    await _in_line(router, "u1")
    enq = int(await redis.hget(P + "call:u1", "enq"))
    rid = await desk.take(_ask("u1", attempts=2))
    assert rid is not None
    await router.agent_action("solo", "resume")
    assert await ami.dialled.get() == rid
    await _finish(desk, rid)
    record = await desk.store.get(rid)
    assert record is not None and (record.state, record.attempts) == ("retry", 1)
    assert await redis.zscore(P + "qwait:billing", rid) is None  # out of line until the retry is due
    await desk.beat()  # retry_after 0: due at once, back in line with the original time, the agent reserved
    assert int(await redis.hget(P + "call:" + rid, "enq")) == enq
    assert await ami.dialled.get() == rid
    await _finish(desk, rid)
    record = await desk.store.get(rid)
    assert record is not None and (record.state, record.outcome) == ("done", "failed")
    assert record.attempt_outcomes == [(1, "busy"), (2, "no-answer")]
    assert len(ami.sent) == 2 and (await router.store.agent("solo")).state == "available"


async def test_an_agent_who_misses_the_callback_costs_no_attempt(redis: Redis) -> None:
    """Agent first: the agent does not answer (Reason 3), so the customer was never rung; the request stays in line
    with its attempt given back, and the next reservation connects it."""
    ami = ScriptedAMI(script=[("3", ""), ("4", "ANSWER")])
    router, desk = _parts(redis, "i1", ami)
    await router.seed(CONFIG)
    await router.store.upsert_agent(AgentSeed("duo", "Duo", "PJSIP/duo", {"billing": 5}, ("en",)))
    await desk.beat()
    await _in_line(router, "u1")
    rid = await desk.take(_ask("u1", attempts=1))
    assert rid is not None
    await router.agent_action("solo", "login")
    await ami.dialled.get()
    await router.agent_action("duo", "login")  # solo is skipped after its no-answer; duo takes the callback
    await ami.dialled.get()
    await _finish(desk, rid)
    record = await desk.store.get(rid)
    assert record is not None and (record.outcome, record.log) == ("connected", "1:agent-missed,1:answered")
    assert [s["Channel"] for s in ami.sent] == ["PJSIP/solo", "PJSIP/duo"]


async def test_one_attempt_is_counted_once_whoever_asks(redis: Redis) -> None:
    """The waiting → dialing step is atomic: of many concurrent attempts to begin attempt 1, exactly one wins, so a
    request never rings the customer twice for one attempt (an echoed offer, a second desk)."""
    ami = ScriptedAMI()
    router, desk = _parts(redis, "i1", ami)
    await router.seed(CONFIG)
    await _in_line(router, "u1")
    await desk.store.take("u1", "cb-u1", "callback-desk", NUMBER, "", "", "agent_first", 3, 0, 0)
    won = await asyncio.gather(*[desk.store.begin_attempt("cb-u1", "solo", 0) for _ in range(20)])
    assert sorted(won) == [0] * 19 + [1]
    assert await desk.store.begin_attempt("cb-u1", "solo", 1) == 0  # dialing: no second attempt meanwhile


async def test_a_restart_between_request_and_callback_loses_nothing(redis: Redis) -> None:
    """The service stops after the request (its desk's calls leave the line); the restarted desk puts the request
    back in line with its original time, ahead of a later caller, and calls back."""
    ami = ScriptedAMI(script=[("4", "ANSWER")])
    router, desk = _parts(redis, "i1", ami)
    await router.seed(CONFIG)
    await desk.beat()
    await _in_line(router, "early")
    enq = int(await redis.hget(P + "call:early", "enq"))
    rid = await desk.take(_ask("early"))
    assert rid is not None
    await desk.stop()
    await router.stop()  # leaves every ticket: the request's call is out of line, the request stays in Redis
    assert (await router.store.call_state(rid))[0] == "left"
    later_router, _ = _parts(redis, "i2", ScriptedAMI())
    await later_router.store.heartbeat("i2", 60)  # another live instance, with a caller who came later
    await _in_line(later_router, "late")
    again_router, again = _parts(redis, "i1", ami)  # the same instance id: it holds the desk's lease at once
    await again.beat()
    assert again.holding and int(await redis.hget(P + "call:" + rid, "enq")) == enq
    assert await redis.zscore(P + "qwait:billing", rid) == enq
    await again_router.agent_action("solo", "login")
    assert await ami.dialled.get() == rid
    await _finish(again, rid)
    assert (await again.store.get(rid)).outcome == "connected"  # type: ignore[union-attr]
    assert await again_router.store.call_state("late") == ("offered", "solo")  # only after the callback


async def test_only_the_desk_holder_serves_requests(redis: Redis) -> None:
    """Two instances: the first to claim the desk holds it; the other stands by until the holder stops."""
    _, holder = _parts(redis, "i1", ScriptedAMI())
    _, standby = _parts(redis, "i2", ScriptedAMI())
    await holder.beat()
    await standby.beat()
    assert holder.holding and not standby.holding
    assert await redis.get(P + "owner:callback-desk") == b"i1"
    await holder.stop()  # a graceful stop gives the lease up: the standby takes over at its next beat
    await standby.beat()
    assert standby.holding and await redis.get(P + "owner:callback-desk") == b"i2"
    await standby.stop()


async def test_reaching_an_agent_cancels_the_customers_pending_requests(redis: Redis) -> None:
    """The customer calls in again and reaches an agent: the pending request ends cancelled and leaves the line."""
    router, desk = _parts(redis, "i1", ScriptedAMI())
    await router.seed(CONFIG)
    await desk.beat()
    await _in_line(router, "u1")
    rid = await desk.take(_ask("u1"))
    assert rid is not None and rid in desk.serving
    await desk.reached_agent(NUMBER)
    record = await desk.store.get(rid)
    assert record is not None and (record.state, record.outcome) == ("done", "cancelled")
    assert (await router.store.call_state(rid))[0] == "left" and rid not in desk.serving
    assert await desk.store.pending() == []


async def test_a_scheduled_request_joins_the_line_when_its_time_comes(redis: Redis) -> None:
    """A request not before a later time waits outside the line; once that time has come (moved here instead of
    waiting), the next beat puts it in line with the caller's original enqueue time."""
    router, desk = _parts(redis, "i1", ScriptedAMI())
    await router.seed(CONFIG)
    await desk.beat()
    await _in_line(router, "u1")
    enq = int(await redis.hget(P + "call:u1", "enq"))
    seconds, _ = await redis.time()
    rid = await desk.take(_ask("u1", not_before=float(seconds) + 3600))
    assert rid is not None and (await desk.store.get(rid)).state == "scheduled"  # type: ignore[union-attr]
    await desk.beat()
    assert await redis.zscore(P + "qwait:billing", rid) is None
    now_ms = (int(seconds) - 1) * 1000
    await redis.hset(P + "callback:" + rid, "not_before", now_ms)  # the clock reached the time asked for
    await redis.zadd(P + "callbacks:due", {rid: now_ms})
    await desk.beat()
    assert await redis.zscore(P + "qwait:billing", rid) == enq
    assert (await desk.store.get(rid)).state == "waiting"  # type: ignore[union-attr]
    await desk.stop()


async def test_a_call_no_longer_waiting_is_not_taken(redis: Redis) -> None:
    """When an agent was reserved for the caller just before the key press, the desk refuses the request."""
    router, desk = _parts(redis, "i1", ScriptedAMI())
    await router.seed(CONFIG)
    await router.store.action("solo", "login")
    await _in_line(router, "u1")  # the agent is reserved at once
    assert await desk.take(_ask("u1")) is None
    assert await desk.store.pending() == []


@pytest.mark.parametrize("number", ["+44207946\r\n0000", "+4420794600,00", "0207946"])
async def test_unsafe_values_never_reach_ami(redis: Redis, number: str) -> None:
    """A number with CR/LF or a comma (or not E.164) is refused before any Originate is sent: the attempt fails."""
    from switchboard.cti.originate import CallbackLeg, UnsafeOriginate
    ami = ScriptedAMI(script=[("4", "ANSWER")])
    _, desk = _parts(redis, "i1", ami)
    assert ami.originator is not None
    with pytest.raises(UnsafeOriginate):
        await ami.originator.dial(CallbackLeg("cb-x", "PJSIP/solo", number, "agent_first", 15))
    assert ami.sent == []


async def test_an_attempt_in_flight_when_the_desk_died_ends_interrupted(redis: Redis) -> None:
    """A request left `dialing` by a dead desk holder is not dialled again blindly: the new holder ends that attempt
    as `interrupted` (it counts) and the request is retried later, or ends failed when it was the last."""
    router, desk = _parts(redis, "i1", ScriptedAMI())
    await router.seed(CONFIG)
    await _in_line(router, "u1")
    await _in_line(router, "u2")
    await desk.store.take("u1", "cb-u1", "callback-desk", NUMBER, "", "", "agent_first", 3, 60, 0)
    await desk.store.take("u2", "cb-u2", "callback-desk", "+442079460001", "", "", "agent_first", 1, 60, 0)
    assert await desk.store.begin_attempt("cb-u1", "solo", 0) == 1
    assert await desk.store.begin_attempt("cb-u2", "solo", 0) == 1
    await desk.beat()  # this instance takes the desk over: recovery
    one, two = await desk.store.get("cb-u1"), await desk.store.get("cb-u2")
    assert one is not None and (one.state, one.log) == ("retry", "1:interrupted")
    assert two is not None and (two.state, two.outcome, two.log) == ("done", "failed", "1:interrupted")
    await desk.stop()


async def test_a_callback_never_overflows(redis: Redis) -> None:
    """The caller's relaxation steps come along (level and skills), but not its overflow: a callback waits on."""
    from switchboard.router.routing_config import RelaxStep
    router, desk = _parts(redis, "i1", ScriptedAMI())
    await router.seed(CONFIG)
    await router.store.own("i1", "u1")
    await router.store.offer("u1", {"billing": 5}, (RelaxStep(30, min_level=2), RelaxStep(600, overflow=True)), "",
                             10, 0, "", "", "billing", "standard")
    await desk.store.take("u1", "cb-u1", "callback-desk", NUMBER, "", "", "agent_first", 3, 60, 0)
    assert await redis.hget(P + "call:cb-u1", "steps") == b"30|L|2;"
    assert (await desk.store.get("cb-u1")).state == "waiting"  # type: ignore[union-attr]


async def test_a_request_taken_on_a_standby_instance_is_served_by_the_desk_holder(redis: Redis) -> None:
    """A caller on the standby instance takes a callback: the standby does not serve it; the holder adopts it."""
    ami = ScriptedAMI(script=[("4", "ANSWER")])
    router, holder = _parts(redis, "i1", ami)
    standby_router, standby = _parts(redis, "i2", ScriptedAMI())
    await router.seed(CONFIG)
    await holder.beat()
    await standby.beat()
    await standby_router.store.heartbeat("i2", 60)
    await _in_line(standby_router, "u1")
    rid = await standby.take(_ask("u1"))
    assert rid is not None and rid not in standby.serving
    await holder.adopt_unserved()
    assert rid in holder.serving
    await router.agent_action("solo", "login")
    assert await ami.dialled.get() == rid
    await _finish(holder, rid)
    assert (await holder.store.get(rid)).outcome == "connected"  # type: ignore[union-attr]
