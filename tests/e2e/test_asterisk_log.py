"""The shipped Asterisk configuration runs calls without a warning per call in Asterisk's own log."""
from __future__ import annotations

from tests.e2e.sandbox import AsteriskSandbox, SwitchboardProcess
from tests.e2e.sipp import Agent, Caller, SippFactory

PER_CALL_WARNINGS = ("No SIP authenticator registered",)


def test_inbound_call_logs_no_per_call_warning(asterisk: AsteriskSandbox, service: SwitchboardProcess,
                                              sipp: SippFactory) -> None:
    """An inbound INVITE answered by the flow and an agent leaves no per-call warning (e.g. the missing SIP
    authenticator) in messages.log."""
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
    caller = sipp.caller(Caller(caller_id="+441632960125", digits=((600, "2"),), hangup_after_ms=1000))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    log = asterisk.log_file.read_text()
    assert "PJSIP/callers-" in log or "callers" in log  # the call did reach Asterisk's log
    for warning in PER_CALL_WARNINGS:
        assert warning not in log
