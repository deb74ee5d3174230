"""End to end: skills routing on real Asterisk 22 + sipp agents + Redis — right agent, VIP first, ring-no-answer, wrap-up."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import (AMIWatcher, AsteriskSandbox, RedisServer, SwitchboardProcess, http_get,
                               wait_until)
from tests.e2e.sipp import Agent, Caller, SippFactory

NUMBERS = 'numbers: {"3000": queue}\ndefault: queue\n'
ROUTING = """\
skills: [billing, support, sales, general]
segments:
  vip: {priority: 100, aging: 1.0}
  standard: {priority: 10, aging: 0.5}
wrap_up: 1
ring_no_answer: {timeout: 4, action: skip, penalty: 60}
relaxation:
  default: []
  quick: [{after: 3, overflow: true}]
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 8, general: 5}, languages: [en]}
  agent2: {name: Bo, endpoint: PJSIP/agent2, skills: {support: 7}, languages: [en]}
  agent3: {name: Cy, endpoint: PJSIP/agent3, skills: {billing: 3, sales: 6}, languages: [en]}
"""
FLOWS = """\
flows:
  queue:
    start: top
    nodes:
      top:
        type: menu
        prompt: hello-world
        choices: {"1": billing, "2": support, "3": sales}
        timeout: 5
        retries: 0
        on_failure: billing
      billing: {type: route, skills: {billing: 3}, queue: billing, overflow: bye, intent: billing}
      support: {type: route, skills: {support: 5}, queue: support, overflow: bye, intent: support}
      sales: {type: route, skills: {sales: 9}, queue: sales, relaxation: quick, overflow: bye, intent: sales}
      bye: {type: hangup, prompt: vm-goodbye}
"""
VIP = "+442079460301"


@pytest.fixture
def ami_events(asterisk: AsteriskSandbox) -> Iterator[AMIWatcher]:
    watcher = AMIWatcher(asterisk.ami_secret)
    yield watcher
    watcher.close()


def _dialled(ami: AMIWatcher, caller_id: str, agent: str) -> dict[str, str]:
    """Asterisk's own DialBegin for this caller to this agent's phone."""
    return ami.wait_for(lambda e: e.get("Event") == "DialBegin" and e.get("CallerIDNum") == caller_id
                        and e.get("DestChannel", "").startswith(f"PJSIP/{agent}-"), 20,
                        f"DialBegin {caller_id} -> {agent}")


@pytest.fixture
def routing_service(asterisk: AsteriskSandbox, redis_server: RedisServer,
                    tmp_path: Path) -> Iterator[SwitchboardProcess]:
    redis_server.command("flushall")  # agents and queues from earlier tests must not leak in
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {folder}\n").start()
    yield proc
    proc.stop()


def _login(service: SwitchboardProcess, *agents: str) -> None:
    for agent in agents:
        code, body = service.post(f"/agents/{agent}/login")
        assert code == 200, body


def _agent_state(service: SwitchboardProcess, agent: str) -> str:
    _, body = http_get(f"http://127.0.0.1:{service.http_port}/agents")
    return next(a["state"] for a in json.loads(body) if a["id"] == agent)


def _uid_of(redis_server: RedisServer, caller_id: str) -> str:
    found: list[str] = []

    def seen() -> bool:
        for key in redis_server.command("--scan", "--pattern", "sb:call:*").split():
            if redis_server.command("hget", key, "caller").strip() == caller_id:
                found.append(key.removeprefix("sb:call:").strip("{}"))
                return True
        return False
    wait_until(seen, 20, f"the call record of {caller_id}")
    return found[0]


def _explain(redis_server: RedisServer, uid: str) -> list[str]:
    return redis_server.command("lrange", "sb:{sb}:explain:" + uid, "0", "-1").splitlines()


def _assigned_at(redis_server: RedisServer, uid: str, agent: str) -> int:
    stamps = [int(line.split(" ", 1)[0]) for line in _explain(redis_server, uid) if f" assigned {agent}:" in line]
    assert stamps, _explain(redis_server, uid)
    return stamps[0]


def test_menu_choice_reaches_the_skilled_agent_then_wrap_up(routing_service: SwitchboardProcess,
                                                            redis_server: RedisServer, sipp: SippFactory,
                                                            ami_events: AMIWatcher) -> None:
    """Billing goes to the best billing agent, support to the support agent; a hang-up ends in wrap-up, then available."""
    _login(routing_service, "agent1", "agent2", "agent3")
    billing_agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=200, talk_ms=2000))
    support_agent = sipp.agent(Agent(name="agent2", port=5072, ring_ms=200))
    billing = sipp.caller(Caller(caller_id="+442079460311", dialled="3000", digits=((800, "1"),),
                                 hangup_after_ms=None))
    support = sipp.caller(Caller(caller_id="+442079460312", dialled="3000", digits=((800, "2"),),
                                 hangup_after_ms=2500))
    wait_until(lambda: _agent_state(routing_service, "agent1") == "wrap_up", 30, "agent1 in wrap-up")
    wait_until(lambda: _agent_state(routing_service, "agent1") == "available", 10, "agent1 available again")
    assert billing.wait(40) == 0, billing.errors()
    assert support.wait(40) == 0, support.errors()
    assert billing_agent.wait(20) == 0, billing_agent.errors()
    assert support_agent.wait(20) == 0, support_agent.errors()
    _dialled(ami_events, "+442079460311", "agent1")  # billing: the level-8 agent, not agent3 (level 3)
    _dialled(ami_events, "+442079460312", "agent2")  # support
    assert not [e for e in ami_events.events if e.get("Event") == "DialBegin"
                and e.get("DestChannel", "").startswith("PJSIP/agent3-")]
    uid = _uid_of(redis_server, "+442079460311")
    assert "billing level 8" in " ".join(_explain(redis_server, uid))
    wait_until(lambda: redis_server.command("hget", f"sb:call:{{{uid}}}", "destination").strip()
               == "agent:agent1", 20, "the billing call's destination recorded")


def test_vip_arriving_later_is_answered_first(routing_service: SwitchboardProcess, redis_server: RedisServer,
                                              sipp: SippFactory, tmp_path: Path, ami_events: AMIWatcher) -> None:
    """With the only billing agent busy, a VIP who calls after a standard caller gets the agent first."""
    done = routing_service.import_customers([{"id": "c-vip", "name": "Very Important", "phones": [VIP],
                                              "segment": "vip"}])
    assert done.returncode == 0, done.stderr
    _login(routing_service, "agent1")
    # 5 s calls: time for the standard caller, then the VIP, to be in line before agent1 frees up
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=200, talk_ms=5000), calls=3)
    filler = sipp.caller(Caller(caller_id="+442079460321", dialled="3000", digits=((500, "1"),),
                                hangup_after_ms=None))
    wait_until(lambda: _agent_state(routing_service, "agent1") == "on_call", 20, "agent1 busy")
    standard = sipp.caller(Caller(caller_id="+442079460322", dialled="3000", digits=((500, "1"),),
                                  hangup_after_ms=None))
    standard_uid = _uid_of(redis_server, "+442079460322")
    wait_until(lambda: any("queued" in line for line in _explain(redis_server, standard_uid)), 20,
               "the standard caller waiting")
    vip = sipp.caller(Caller(caller_id=VIP, dialled="3000", digits=((500, "1"),), hangup_after_ms=None))
    for run in (filler, standard, vip):
        assert run.wait(60) == 0, run.errors()
    assert agent.wait(20) == 0, agent.errors()
    vip_uid = _uid_of(redis_server, VIP)
    assert redis_server.command("hget", f"sb:call:{{{vip_uid}}}", "segment").strip() == "vip"
    assert _assigned_at(redis_server, vip_uid, "agent1") < _assigned_at(redis_server, standard_uid, "agent1")
    vip_dial = _dialled(ami_events, VIP, "agent1")
    standard_dial = _dialled(ami_events, "+442079460322", "agent1")
    assert ami_events.events.index(vip_dial) < ami_events.events.index(standard_dial)  # as Asterisk saw it


def test_ring_no_answer_agent_is_skipped_and_call_connects(routing_service: SwitchboardProcess,
                                                           redis_server: RedisServer, sipp: SippFactory,
                                                           ami_events: AMIWatcher) -> None:
    """The best agent never answers: after the ring timeout the call goes back in line and the next agent takes it."""
    _login(routing_service, "agent1", "agent3")
    sleepy = sipp.agent(Agent(name="agent1", port=5071, answers=False))
    backup = sipp.agent(Agent(name="agent3", port=5073, ring_ms=200))
    caller = sipp.caller(Caller(caller_id="+442079460331", dialled="3000", digits=((500, "1"),),
                                hangup_after_ms=9000))
    assert caller.wait(60) == 0, caller.errors()
    assert sleepy.wait(20) == 0, sleepy.errors()
    assert backup.wait(20) == 0, backup.errors()
    first = _dialled(ami_events, "+442079460331", "agent1")
    second = _dialled(ami_events, "+442079460331", "agent3")
    assert ami_events.events.index(first) < ami_events.events.index(second)
    assert any(e.get("Event") == "DialEnd" and e.get("DestChannel") == first["DestChannel"]
               and e.get("DialStatus") == "NOANSWER" for e in ami_events.events)
    uid = _uid_of(redis_server, "+442079460331")
    lines = " | ".join(_explain(redis_server, uid))
    assert "agent1 did not answer" in lines and " assigned agent3:" in lines, lines


def test_caller_hanging_up_in_line_is_removed_at_once(routing_service: SwitchboardProcess,
                                                      redis_server: RedisServer, sipp: SippFactory) -> None:
    """A caller who hangs up while waiting leaves the line at once and the agent is not reserved for them."""
    _login(routing_service, "agent1")
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=200, talk_ms=6000))
    busy = sipp.caller(Caller(caller_id="+442079460341", dialled="3000", digits=((500, "1"),),
                              hangup_after_ms=None))
    wait_until(lambda: _agent_state(routing_service, "agent1") == "on_call", 20, "agent1 busy")
    leaver = sipp.caller(Caller(caller_id="+442079460342", dialled="3000", digits=((500, "1"),),
                                hangup_after_ms=2000))
    assert leaver.wait(30) == 0, leaver.errors()
    uid = _uid_of(redis_server, "+442079460342")
    wait_until(lambda: any("caller left while waiting" in line for line in _explain(redis_server, uid)), 10,
               "the router told at once")
    assert redis_server.command("zcard", "sb:{sb}:qwait:billing").strip() == "0"
    assert routing_service.metric("switchboard_queue_short_abandoned_total",
                                  'queue="billing",segment="standard"') == 1
    assert busy.wait(30) == 0, busy.errors()
    assert agent.wait(20) == 0, agent.errors()
    wait_until(lambda: _agent_state(routing_service, "agent1") == "available", 10, "agent1 free, not reserved")


def test_relaxation_overflow_sends_the_caller_on(routing_service: SwitchboardProcess, redis_server: RedisServer,
                                                 sipp: SippFactory) -> None:
    """Nobody has the skill level: at the profile's overflow step the caller leaves the line for the overflow node."""
    _login(routing_service, "agent3")  # sales 6, the node asks for 9
    caller = sipp.caller(Caller(caller_id="+442079460351", dialled="3000", digits=((500, "3"),),
                                hangup_after_ms=None))
    assert caller.wait(30) == 0, caller.errors()  # the goodbye node hangs up on the caller
    uid = _uid_of(redis_server, "+442079460351")
    assert any("overflow after 3s" in line for line in _explain(redis_server, uid)), _explain(redis_server, uid)
    wait_until(lambda: json.loads(redis_server.command("hget", f"sb:call:{{{uid}}}", "path").strip() or "[]")[-2:]
               == ["queue.sales", "queue.bye"], 10, "the overflow path recorded")
