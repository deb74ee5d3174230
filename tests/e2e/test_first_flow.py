"""End to end through real Asterisk 22, sipp and Redis: the first flow (examples/first-flow), and the fallback when
the service is down."""
from __future__ import annotations

import json

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SwitchboardProcess, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory


def _call_records(redis_server: RedisServer) -> dict[str, dict[str, str]]:
    records = {}
    for key in redis_server.command("--scan", "--pattern", "sb:call:*").split():
        fields = redis_server.command("hgetall", key).splitlines()
        records[key] = dict(zip(fields[::2], fields[1::2]))
    return records


def test_caller_presses_digit_and_reaches_agent(asterisk: AsteriskSandbox, redis_server: RedisServer,
                                                service: SwitchboardProcess, sipp: SippFactory) -> None:
    """A caller with a caller ID presses 2 during the greeting, the choice is kept and agent1 answers."""
    before = set(_call_records(redis_server))
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
    caller = sipp.caller(Caller(caller_id="+441632960123", digits=((600, "2"),), hangup_after_ms=1500))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    # sipp exits on the BYE; the flow then reads DIALSTATUS and writes its last fields: wait for "ended".
    def ended() -> bool:
        return any(v.get("state") == "ended" for k, v in _call_records(redis_server).items() if k not in before)
    wait_until(ended, 10, "the call record to reach state=ended")
    new = {k: v for k, v in _call_records(redis_server).items() if k not in before}
    assert len(new) == 1, new
    record = next(iter(new.values()))
    assert record["flow"] == "first"
    assert json.loads(record["path"]) == ["first.greeting", "first.agent"]
    assert record["caller"] == "+441632960123"
    assert record["destination"] == "PJSIP/agent1"
    assert record["outcome"] == "routed"
    assert service.metric("switchboard_ivr_calls_total", 'flow="first",outcome="routed"') == 1
    assert service.metric("switchboard_agi_sessions_total", 'outcome="completed"') == 1
    uniqueid = next(iter(new)).split("{", 1)[1].rstrip("}")  # sb:call:{<uniqueid>}
    # the service's one line for the finished call: its uniqueid, flow, outcome, agent; not the caller's number
    ended_lines = [line for line in service.log_file.read_text().splitlines() if " ended: " in line]
    assert len(ended_lines) == 1 and f"call {uniqueid} ended: flow=first outcome=routed queue=- " \
        "agent=PJSIP/agent1 wait=-" in ended_lines[0], ended_lines
    assert "1632960123" not in ended_lines[0]


def test_service_down_sends_caller_to_fallback_agent(asterisk: AsteriskSandbox, sipp: SippFactory) -> None:
    """With no Switchboard listening, the dialplan's fallback still connects the caller to a human."""
    # The fallback rings every agent: agent2 answers, the others are cancelled (and must be there to take the
    # CANCEL, or Asterisk's retransmissions would reach the next test's phones).
    agent = sipp.agent(Agent(name="agent2", port=5072, ring_ms=200))
    others = [sipp.agent(Agent(name=n, port=p, answers=False)) for n, p in (("agent1", 5071), ("agent3", 5073))]
    caller = sipp.caller(Caller(caller_id="+441632960124", hangup_after_ms=1000))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    for other in others:
        assert other.wait(20) == 0, other.errors()
    assert "FastAGI failed" in asterisk.log_file.read_text()
