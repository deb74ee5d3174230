"""End to end on real Asterisk 22: a routed call's channel variables, set in batches (EXEC MSet) and read together
(GET FULL VARIABLE), are what the dialplan and agents' screens read — awkward characters included."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import AMIWatcher, AsteriskSandbox, RedisServer, SwitchboardProcess, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory

PEPPER = "e2e-pepper-not-a-real-secret"
NUMBERS = 'numbers: {"5000": vars}\ndefault: vars\n'
ROUTING = """\
skills: [billing]
segments: {gold: {priority: 50, aging: 0.5}, standard: {priority: 10, aging: 0.5}}
wrap_up: 0
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 5}, languages: [en]}
"""
TOPIC = 'bill, "x=y" (z [w] back\\slash'  # commas, equals, quotes, unbalanced brackets, a backslash
PRICE = "$5 ${NOPE}"  # a `$`: sent by SET VARIABLE, never substituted
FLOWS = f"""\
flows:
  vars:
    start: remember
    nodes:
      remember: {{type: set, variables: {{topic: '{TOPIC}', price: '{PRICE}'}}, next: agents}}
      agents: {{type: route, skills: {{billing: 3}}, queue: billing, overflow: bye}}
      bye: {{type: hangup}}
"""
GOLD = "+442079460601"


@pytest.fixture
def vars_service(asterisk: AsteriskSandbox, redis_server: RedisServer,
                 tmp_path: Path) -> Iterator[SwitchboardProcess]:
    redis_server.command("flushall")
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_env={"SWITCHBOARD_CTI_PEPPER": PEPPER},
                              extra_settings=f"ivr:\n  dialplans: {folder}\n").start()
    yield proc
    proc.stop()


@pytest.fixture
def ami_events(asterisk: AsteriskSandbox) -> Iterator[AMIWatcher]:
    watcher = AMIWatcher(asterisk.ami_secret)
    yield watcher
    watcher.close()


def _channel_variables(asterisk: AsteriskSandbox, channel: str) -> dict[str, str]:
    """The channel's variables as Asterisk's CLI lists them (`core show channel`)."""
    shown = asterisk.cli(f"core show channel {channel}")
    lines = shown.split("Variables:", 1)[1].splitlines() if "Variables:" in shown else []
    return dict(line.strip().split("=", 1) for line in lines if "=" in line)


def test_routed_call_leaves_every_variable_on_the_channel(vars_service: SwitchboardProcess, asterisk: AsteriskSandbox,
                                                          ami_events: AMIWatcher, sipp: SippFactory) -> None:
    """A recognised gold caller routed to agent1: while they talk, the caller's channel holds customer id, segment,
    confidence, topic and price exactly, skills and agent; the call's end read DIALSTATUS and ANSWEREDTIME in one
    command (routed, a talk time in the handle-time metric)."""
    done = vars_service.import_customers([{"id": "c-gold", "name": "Gil Gold", "phones": [GOLD], "segment": "gold",
                                           "account": "55550001"}])
    assert done.returncode == 0, done.stderr
    code, body = vars_service.post("/agents/agent1/login")
    assert code == 200, body
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=200))
    caller = sipp.caller(Caller(caller_id=GOLD, dialled="5000", hangup_after_ms=4000))
    dialled = ami_events.wait_for(lambda e: e.get("Event") == "DialBegin" and e.get("CallerIDNum") == GOLD, 30,
                                  "DialBegin of the gold caller")
    held = _channel_variables(asterisk, dialled["Channel"])
    assert {k: held.get(k) for k in ("SWITCHBOARD_CUSTOMER_ID", "SWITCHBOARD_SEGMENT", "SWITCHBOARD_CONFIDENCE",
                                     "topic", "price", "SWITCHBOARD_SKILLS", "SWITCHBOARD_AGENT")} == {
        "SWITCHBOARD_CUSTOMER_ID": "c-gold", "SWITCHBOARD_SEGMENT": "gold", "SWITCHBOARD_CONFIDENCE": "ani",
        "topic": TOPIC, "price": PRICE, "SWITCHBOARD_SKILLS": "billing:3", "SWITCHBOARD_AGENT": "agent1"}
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    wait_until(lambda: vars_service.metric("switchboard_ivr_calls_total", 'flow="vars",outcome="routed"') == 1, 15,
               "the call to end as routed (DIALSTATUS read as ANSWER)")
    assert vars_service.metric("switchboard_queue_handle_seconds_sum", 'queue="billing",segment="gold"') >= 1
    assert "MSet: ignoring entry" not in asterisk.log_file.read_text()
