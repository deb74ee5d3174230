"""The callback's pure parts: how an origination's legs make an attempt's outcome, the Originate action's fields
(each checked to its alphabet, never CR/LF/NUL), the originator's reading of AMI events, and the metrics."""
from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from switchboard.cti.originate import CONTEXT, CallbackLeg, CallbackOriginator, UnsafeOriginate, originate_fields
from switchboard.metrics.callback_metrics import ATTEMPT_OUTCOMES, CallbackMetrics
from switchboard.router.callback_desk import DialOutcome, attempt_result, parse_skills, request_id


@pytest.mark.parametrize("order, first, second, expected", [
    ("agent_first", "answered", "answered", ("answered", True)),
    ("agent_first", "answered", "busy", ("busy", True)),
    ("agent_first", "answered", "no-answer", ("no-answer", True)),
    ("agent_first", "answered", "", ("failed", True)),
    ("agent_first", "no-answer", "", ("agent-missed", False)),  # the customer was never rung
    ("agent_first", "failed", "", ("agent-missed", False)),
    ("customer_first", "busy", "", ("busy", True)),
    ("customer_first", "no-answer", "", ("no-answer", True)),
    ("customer_first", "answered", "answered", ("answered", True)),
    ("customer_first", "answered", "no-answer", ("agent-missed", True)),  # the customer was rung: it counts
])
def test_attempt_outcome_from_the_two_legs(order: str, first: str, second: str, expected: tuple[str, bool]) -> None:
    """An attempt counts once the customer was rung; an agent missing an agent-first callback costs nothing."""
    assert attempt_result(order, DialOutcome(first, second)) == expected


def test_request_ids_and_skills() -> None:
    """A request is named after the caller's call; the stored skills read back as a mapping."""
    assert request_id("1733150000.12") == "cb-1733150000.12"
    assert parse_skills("billing:3,sales:1,") == {"billing": 3, "sales": 1}


def test_originate_fields_agent_first_and_customer_first() -> None:
    """Agent first: the agent's device is the Channel; customer first: the number on the trunk; always the callback
    context with the request as extension, asynchronous, the ring time in ms."""
    leg = CallbackLeg("cb-1.2", "PJSIP/agent1", "+442079460000", "agent_first", 15)
    fields = originate_fields(leg, "switchboard_callback", "")
    assert (fields["Channel"], fields["Context"], fields["Exten"], fields["Async"], fields["Timeout"]) == (
        "PJSIP/agent1", CONTEXT, "cb-1.2", "true", "15000")
    assert fields["Variable"].split(",") == ["SB_CALLBACK_ORDER=agent_first", "SB_CALLBACK_NUMBER=+442079460000",
                                             "SB_CALLBACK_AGENT=PJSIP/agent1", "SB_CALLBACK_TRUNK=switchboard_callback",
                                             "SB_CALLBACK_RING=15"]
    reverse = originate_fields(CallbackLeg("cb-1.2", "PJSIP/agent1", "+442079460000", "customer_first", 15),
                               "switchboard_callback", "")
    assert reverse["Channel"] == "PJSIP/+442079460000@switchboard_callback"


@pytest.mark.parametrize("field, value", [
    ("number", "+4420\r\n79460000"), ("number", "+44,2079460000"), ("number", "02079460000"),
    ("agent", "PJSIP/agent1&PJSIP/agent2"), ("agent", "PJSIP/agent1\n"), ("request", "cb-1\r\nAction: Command"),
    ("request", "1.2"), ("trunk", "trunk-with,comma"), ("caller_id", "Shop\r\n"),
])
def test_unsafe_values_are_refused(field: str, value: str) -> None:
    """Each value is checked to its own alphabet before it reaches AMI: no CR/LF/NUL, no second device or variable."""
    parts = {"request": "cb-1.2", "agent": "PJSIP/agent1", "number": "+442079460000", "trunk": "switchboard_callback",
             "caller_id": ""}
    parts[field] = value
    with pytest.raises(UnsafeOriginate):
        originate_fields(CallbackLeg(parts["request"], parts["agent"], parts["number"], "agent_first", 15),
                         parts["trunk"], parts["caller_id"])


async def test_originator_reads_both_legs_from_events() -> None:
    """The first leg from OriginateResponse (Reason 5 busy ends it), the second from the callback's UserEvent."""
    sent: list[dict[str, str]] = []
    originator: CallbackOriginator

    async def send(name: str, fields: dict[str, str]) -> None:
        sent.append(fields)
        if fields["Exten"] == "cb-busy":
            originator.on_ami_event("OriginateResponse", {"Response": "Failure", "Reason": "5", "Exten": "cb-busy"})
        else:
            originator.on_ami_event("OriginateResponse", {"Response": "Success", "Reason": "4", "Exten": "cb-ok"})
            asyncio.get_running_loop().call_soon(originator.on_ami_event, "UserEvent", {
                "UserEvent": "SwitchboardCallback", "Request": "cb-ok", "Status": "NOANSWER"})
    originator = CallbackOriginator(send, "switchboard_callback")  # type: ignore[arg-type]
    busy = await originator.dial(CallbackLeg("cb-busy", "PJSIP/a", "+442079460000", "customer_first", 10))
    ok = await originator.dial(CallbackLeg("cb-ok", "PJSIP/a", "+442079460000", "agent_first", 10))
    assert (busy.first, busy.second) == ("busy", "")
    assert (ok.first, ok.second) == ("answered", "no-answer")


def test_callback_metrics_start_at_zero_and_fold_unknown_outcomes() -> None:
    """Prepared queues read 0 for every series; an unknown attempt outcome counts as failed."""
    registry = CollectorRegistry()
    metrics = CallbackMetrics(registry)
    metrics.prepare(["billing"])
    for name in ("offered", "accepted", "connected", "failed"):
        assert registry.get_sample_value(f"switchboard_callbacks_{name}_total", {"queue": "billing"}) == 0
    assert all(registry.get_sample_value("switchboard_callback_attempts_total",
                                         {"queue": "billing", "outcome": o}) == 0 for o in ATTEMPT_OUTCOMES)
    metrics.attempted("billing", "weird")
    metrics.offered("billing")
    assert registry.get_sample_value("switchboard_callback_attempts_total",
                                     {"queue": "billing", "outcome": "failed"}) == 1
    assert registry.get_sample_value("switchboard_callbacks_offered_total", {"queue": "billing"}) == 1


async def test_the_agents_screen_pop_says_it_is_a_callback() -> None:
    """The callback's pop is the original call's pop (kind `callback`) plus the request, number and attempt."""
    from switchboard.callback_wiring import CallbackPops
    from switchboard.cti.screen_pop import AgentStreams
    from switchboard.router.callback_store import CallbackRecord

    class Pops:
        async def build(self, kind: str, agent: str, uniqueid: str) -> dict[str, object]:
            return {"event": kind, "agent": agent, "uniqueid": uniqueid, "ivr_path": ["main.menu"]}

    streams = AgentStreams()
    record = CallbackRecord("cb-1.2", "1.2", "+442079460000", "cust-1", "billing", "billing:3", "", "agent_first",
                            "dialing", 1, 3, 120.0, 1733150000000, 0, "", "", "agent1")
    await CallbackPops(Pops(), streams)("agent1", record, 1)  # type: ignore[arg-type]
    [pop] = streams.recent("agent1")
    assert pop.payload["event"] == "callback" and pop.payload["uniqueid"] == "1.2"
    assert pop.payload["callback"] == {"request": "cb-1.2", "number": "+442079460000", "attempt": 1,
                                       "max_attempts": 3, "order": "agent_first", "waiting_since_ms": 1733150000000}
