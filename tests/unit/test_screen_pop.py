"""Unit tests of screen pops: AMI dial events become one payload per agent, published three ways, in order."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Mapping

from switchboard.cti.call_context import CallContext
from switchboard.cti.customer import Customer
from switchboard.cti.screen_pop import IDLE_OUTLET_RECHECK, AgentStreams, ScreenPops, agent_of

ADA = Customer(id="c1", name="Ada Lovelace", segment="vip", open_cases=({"id": "K-1", "title": "refund"},),
               recent_contacts=({"at": 1}, {"at": 2}))
RECORD = CallContext("1700.1", customer_id="c1", segment="vip", confidence="ani", flow="support",
                     path=("support.top", "support.billing_agents"), intents=("billing",), started_at=1000.0)


class Context:
    async def read_call(self, uniqueid: str) -> CallContext | None:
        return RECORD if uniqueid == "1700.1" else None


class Customers:
    async def get(self, customer_id: str) -> Customer | None:
        return ADA if customer_id == "c1" else None


def test_agent_of_channel() -> None:
    """The agent is the PJSIP endpoint name without the channel suffix; other technologies are ignored."""
    assert agent_of("PJSIP/agent1-0000002a") == "agent1"
    assert agent_of("PJSIP/sales-team-1-00000001") == "sales-team-1"
    assert agent_of("Local/100@ctx-00000001;1") is None


async def test_ringing_and_answered_pops_reach_all_three_outlets() -> None:
    """DialBegin and DialEnd(ANSWER) each publish the whole picture to SSE, Redis and an AMI UserEvent."""
    streams = AgentStreams()
    stream = streams.subscribe("agent1")
    redis_messages: list[str] = []
    user_events: list[Mapping[str, str]] = []

    async def publish(message: str) -> None:
        redis_messages.append(message)

    async def user_event(fields: Mapping[str, str]) -> None:
        user_events.append(fields)

    pops = ScreenPops(Context(), Customers(), streams, publish, user_event, logging.getLogger("test"),
                      clock=lambda: 1042.0)
    pops.start(asyncio.get_running_loop())
    pops.on_ami_event("DialBegin", {"Uniqueid": "1700.1", "DestChannel": "PJSIP/agent1-00000001"})
    pops.on_ami_event("DialEnd", {"Uniqueid": "1700.1", "DestChannel": "PJSIP/agent1-00000001",
                                  "DialStatus": "NOANSWER"})  # not an answer: no pop
    pops.on_ami_event("DialEnd", {"Uniqueid": "1700.1", "DestChannel": "PJSIP/agent1-00000001",
                                  "DialStatus": "ANSWER"})
    first: dict[str, Any] = (await asyncio.wait_for(stream.get(), 5)).payload
    second: dict[str, Any] = (await asyncio.wait_for(stream.get(), 5)).payload
    await pops.stop()
    assert [first["event"], second["event"]] == ["ringing", "answered"]
    assert first["customer"]["name"] == "Ada Lovelace" and first["customer"]["open_cases"][0]["id"] == "K-1"
    assert (first["segment"], first["confidence"], first["intents"]) == ("vip", "ani", ["billing"])
    assert first["ivr_path"] == ["support.top", "support.billing_agents"]
    assert first["waited_seconds"] == 42.0
    assert [json.loads(m)["event"] for m in redis_messages] == ["ringing", "answered"]
    assert json.loads(redis_messages[0])["agent"] == "agent1"
    assert user_events[1]["Pop"] == "answered" and user_events[1]["CustomerId"] == "c1"
    assert all("Ada" not in value for event in user_events for value in event.values())  # no names via AMI


async def test_unknown_caller_pop_and_failing_outlets() -> None:
    """An unknown caller still pops (no customer); Redis and AMI failures do not stop the SSE pop."""
    streams = AgentStreams()
    stream = streams.subscribe("agent2")

    async def broken(*args: Any) -> None:
        raise ConnectionError("down")

    pops = ScreenPops(Context(), Customers(), streams, broken, broken, logging.getLogger("test"))
    payload = await pops.pop("ringing", "agent2", "9999.9")
    assert payload["customer"] is None and payload["confidence"] == "none"
    assert (await asyncio.wait_for(stream.get(), 5)).payload["agent"] == "agent2"


class Desks:
    """The router's endpoint map as the resolver port sees it: desk4 is Osman's phone."""

    async def agent_for_endpoint(self, endpoint: str) -> str | None:
        return {"PJSIP/desk4": "osman"}.get(endpoint)


async def test_pops_are_keyed_by_the_agent_at_the_dialled_endpoint() -> None:
    """Osman on PJSIP/desk4 gets the pop on his own stream (named `osman`); a device with no agent pops nobody."""
    streams = AgentStreams()
    osman = streams.subscribe("osman")
    desk4 = streams.subscribe("desk4")

    async def ignore(*args: Any) -> None:
        return None

    pops = ScreenPops(Context(), Customers(), streams, ignore, None, logging.getLogger("test"), resolver=Desks())
    pops.start(asyncio.get_running_loop())
    pops.on_ami_event("DialBegin", {"Uniqueid": "1700.1", "DestChannel": "PJSIP/lobby-00000001"})
    pops.on_ami_event("DialBegin", {"Uniqueid": "1700.1", "DestChannel": "PJSIP/desk4-00000002"})
    event = await asyncio.wait_for(osman.get(), 5)
    await pops.stop()
    assert event.payload["agent"] == "osman" and event.payload["customer"]["name"] == "Ada Lovelace"
    assert desk4.empty() and streams.recent("lobby") == [] and streams.recent("desk4") == []


async def test_answered_pop_reuses_what_ringing_read() -> None:
    """A call's ringing pop reads its record and customer once; the answered pop reuses them (no second read)."""
    reads: list[str] = []

    class CountingContext(Context):
        async def read_call(self, uniqueid: str) -> CallContext | None:
            reads.append("call")
            return await super().read_call(uniqueid)

    class CountingCustomers(Customers):
        async def get(self, customer_id: str) -> Customer | None:
            reads.append("customer")
            return await super().get(customer_id)

    async def ignore(_: Any) -> None:
        return None

    pops = ScreenPops(CountingContext(), CountingCustomers(), AgentStreams(), ignore, ignore,
                      logging.getLogger("test"), clock=lambda: 1042.0)
    ringing = await pops.pop("ringing", "agent1", "1700.1")
    answered = await pops.pop("answered", "agent1", "1700.1")
    assert reads == ["call", "customer"]
    assert answered["customer"] == ringing["customer"] and answered["event"] == "answered"
    await pops.pop("answered", "agent1", "1700.1")  # nothing kept after the answer: read again
    assert reads == ["call", "customer", "call", "customer"]


async def test_integrations_outlet_rechecked_while_nobody_subscribes() -> None:
    """A publish that reached nobody pauses publishing for integrations for IDLE_OUTLET_RECHECK s; then it resumes."""
    now = [100.0]
    receivers = [0]
    published: list[str] = []

    async def publish(message: str) -> int:
        published.append(json.loads(message)["event"])
        return receivers[0]

    async def no_user_event(_: Mapping[str, str]) -> None:
        return None

    pops = ScreenPops(Context(), Customers(), AgentStreams(), publish, no_user_event, logging.getLogger("test"),
                      monotonic=lambda: now[0])
    await pops.pop("ringing", "agent1", "1700.1")
    await pops.pop("answered", "agent1", "1700.1")  # within the pause: not published
    assert published == ["ringing"] and pops.published == 2
    now[0] += IDLE_OUTLET_RECHECK
    receivers[0] = 1
    await pops.pop("ringing", "agent1", "1700.1")
    await pops.pop("answered", "agent1", "1700.1")  # somebody listens now: every pop goes out
    assert published == ["ringing", "ringing", "answered"]


async def test_pops_waiting_together_share_one_batched_read() -> None:
    """Pops queued together are read in one batch (each call once, ringing and answered of a call too) and show
    what the one-call-at-a-time reads show."""
    batches: list[list[str]] = []

    class BatchReader:
        async def read_calls_with_customers(self, uniqueids: Any) -> list[tuple[CallContext | None, Customer | None]]:
            batches.append(list(uniqueids))
            return [(RECORD, ADA) if uid == "1700.1" else (None, None) for uid in uniqueids]

    async def ignore(_: Any) -> None:
        return None

    streams = AgentStreams()
    stream = streams.subscribe("agent1")
    pops = ScreenPops(Context(), Customers(), streams, ignore, ignore, logging.getLogger("test"),
                      clock=lambda: 1042.0, reader=BatchReader())
    pops.start(asyncio.get_running_loop())
    for name, uid, status in [("DialBegin", "1700.1", ""), ("DialBegin", "9999.9", ""),
                              ("DialEnd", "1700.1", "ANSWER")]:
        pops.on_ami_event(name, {"Uniqueid": uid, "DestChannel": "PJSIP/agent1-00000001", "DialStatus": status})
    got = [(await asyncio.wait_for(stream.get(), 5)).payload for _ in range(3)]
    await pops.stop()
    assert batches == [["1700.1", "9999.9"]]
    assert [(p["event"], p["uniqueid"]) for p in got] == [("ringing", "1700.1"), ("ringing", "9999.9"),
                                                          ("answered", "1700.1")]
    single = ScreenPops(Context(), Customers(), AgentStreams(), ignore, ignore, logging.getLogger("test"),
                        clock=lambda: 1042.0)
    assert got[0] == await single.build("ringing", "agent1", "1700.1")
    assert got[1] == await single.build("ringing", "agent1", "9999.9")
    assert got[2]["customer"] == got[0]["customer"] and got[2]["ivr_path"] == got[0]["ivr_path"]


async def test_without_a_batch_window_the_pops_waiting_together_are_one_batch() -> None:
    """With batch_window 0 (the AMI reader already hands over a read's events together) the pops queued in one
    pass are read in one batch, in order, without waiting for a timer."""
    batches: list[list[str]] = []

    class Reader:
        async def read_calls_with_customers(self, uniqueids: list[str]) -> list[tuple[CallContext | None, None]]:
            batches.append(list(uniqueids))
            return [(CallContext(uid), None) for uid in uniqueids]

    streams = AgentStreams()
    stream = streams.subscribe("agent1")

    async def publish(message: str) -> int:
        return 0
    pops = ScreenPops(Context(), Customers(), streams, publish, None, logging.getLogger("test"), reader=Reader(),
                      batch_window=0.0)
    pops.start(asyncio.get_running_loop())
    for uid in ("9.1", "9.2", "9.3"):
        pops.on_ami_event("DialBegin", {"Uniqueid": uid, "DestChannel": "PJSIP/agent1-00000001"})
    got = [(await asyncio.wait_for(stream.get(), 5)).payload["uniqueid"] for _ in range(3)]
    await pops.stop()
    assert got == ["9.1", "9.2", "9.3"] and batches == [["9.1", "9.2", "9.3"]]
