"""End to end: YAML flows on real Asterisk 22 + sipp + Redis — menus, invalid and timeout paths, hang-ups, reloads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SwitchboardProcess, http_get, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory

NUMBERS = 'numbers: {"2000": support}\ndefault: support\n'
ROUTING = "skills: [billing, support, general]\n"
FLOWS = """\
flows:
  support:
    start: top
    nodes:
      top:
        type: menu
        prompt: [hello-world, hello-world]   # 2.8 s, then 3 s to press a key
        choices: {"1": billing_menu, "2": second_line}
        timeout: 3
        retries: 1
        invalid_prompt: pbx-invalid
        no_input_prompt: please-try-again
        on_failure: third_line
      billing_menu:
        type: menu
        prompt: [hello-world]
        choices: {"1": billing_agents, "2": third_line}
        timeout: 3
        retries: 0
        on_failure: third_line
        intent: billing
      billing_agents: {type: route, skills: {billing: 1}, endpoint: PJSIP/agent1, timeout: 20, overflow: bye}
      second_line: {type: transfer, to: PJSIP/agent2, timeout: 20}
      third_line: {type: transfer, to: PJSIP/agent3, timeout: 20}
      bye: {type: hangup, prompt: vm-goodbye}
"""


@pytest.fixture
def dialplans(tmp_path: Path) -> Path:
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    return folder


@pytest.fixture
def ivr_service(asterisk: AsteriskSandbox, redis_server: RedisServer, tmp_path: Path,
                dialplans: Path) -> Iterator[SwitchboardProcess]:
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {dialplans}\n  watch_interval: 0.2\n").start()
    yield proc
    proc.stop()


def _records(redis_server: RedisServer) -> dict[str, dict[str, str]]:
    out = {}
    for key in redis_server.command("--scan", "--pattern", "sb:call:*").split():
        fields = redis_server.command("hgetall", key).splitlines()
        out[key] = dict(zip(fields[::2], fields[1::2]))
    return out


def _new_records(redis_server: RedisServer, before: set[str], count: int = 1,
                 state: str = "ended") -> list[dict[str, str]]:
    """Waits until `count` calls placed after `before` have reached `state`, and returns them by start time."""
    def found() -> list[dict[str, str]]:
        return [v for k, v in _records(redis_server).items() if k not in before and v.get("state") == state]
    wait_until(lambda: len(found()) >= count, 20, f"{count} call record(s) in state {state}")
    return found()


def test_two_level_menu_reaches_the_billing_agent(ivr_service: SwitchboardProcess, redis_server: RedisServer,
                                                  sipp: SippFactory) -> None:
    """Keys 1 then 1 walk two menus and end at the billing route, where agent1 answers."""
    before = set(_records(redis_server))
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=200))
    caller = sipp.caller(Caller(caller_id="+441632960201", dialled="2000",
                                digits=((800, "1"), (800, "1")), hangup_after_ms=1500))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    [record] = _new_records(redis_server, before)
    assert json.loads(record["path"]) == ["support.top", "support.billing_menu", "support.billing_agents"]
    assert record["destination"] == "PJSIP/agent1"
    assert record["outcome"] == "routed"
    assert json.loads(record["intents"]) == ["billing"]
    assert ivr_service.metric("switchboard_ivr_calls_total", 'flow="support",outcome="routed"') == 1


def test_invalid_then_silence_ends_at_failure_destination(ivr_service: SwitchboardProcess,
                                                          redis_server: RedisServer, sipp: SippFactory) -> None:
    """An invalid key, then no key at all, exhausts the retries and the caller is put through to agent3."""
    before = set(_records(redis_server))
    agent = sipp.agent(Agent(name="agent3", port=5073, ring_ms=200))
    # 9 (invalid) → pbx-invalid 4.4 s → menu again 2.8 s + 3 s of silence → on_failure: agent3 rings at ~11 s
    caller = sipp.caller(Caller(caller_id="+441632960202", dialled="2000", digits=((800, "9"),),
                                hangup_after_ms=14000))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    [record] = _new_records(redis_server, before)
    assert json.loads(record["path"]) == ["support.top", "support.third_line"]
    assert record["outcome"] == "transferred" and record["destination"] == "PJSIP/agent3"
    where = ',flow="support",node="top"'  # the exposition sorts labels by name
    assert ivr_service.metric("switchboard_ivr_menu_inputs_total", 'event="invalid"' + where) == 1
    assert ivr_service.metric("switchboard_ivr_menu_inputs_total", 'event="no_input"' + where) == 1


def test_caller_hangs_up_mid_menu(ivr_service: SwitchboardProcess, redis_server: RedisServer,
                                  sipp: SippFactory) -> None:
    """A caller who hangs up while the menu plays ends the flow as abandoned, with the menu as last node."""
    before = set(_records(redis_server))
    caller = sipp.caller(Caller(caller_id="+441632960203", dialled="2000", hangup_after_ms=1500))
    assert caller.wait(40) == 0, caller.errors()
    [record] = _new_records(redis_server, before)
    assert record["outcome"] == "abandoned"
    assert record["last_node"] == "support.top"
    assert ivr_service.metric("switchboard_ivr_calls_total", 'flow="support",outcome="abandoned"') == 1


def test_reload_during_a_call_does_not_change_it(ivr_service: SwitchboardProcess, redis_server: RedisServer,
                                                 sipp: SippFactory, dialplans: Path) -> None:
    """A call in the menu when an edit is picked up finishes on its version; the next call uses the new one."""
    before = set(_records(redis_server))
    old_agent = sipp.agent(Agent(name="agent2", port=5072, ring_ms=200))
    first = sipp.caller(Caller(caller_id="+441632960204", dialled="2000", digits=((3000, "2"),),
                               hangup_after_ms=1000))
    [started] = _new_records(redis_server, before, state="ivr")
    old_version = started["dialplan_version"]
    (dialplans / "main.yaml").write_text(FLOWS.replace('"2": second_line', '"2": third_line'))
    wait_until(lambda: ivr_service.metric("switchboard_dialplan_reloads_total", 'result="ok"') >= 2, 10,
               "the watcher to reload the edit")  # the first ok is the start-up load
    assert first.wait(40) == 0, first.errors()
    assert old_agent.wait(20) == 0, old_agent.errors()
    [first_record] = _new_records(redis_server, before)
    assert first_record["destination"] == "PJSIP/agent2"
    assert first_record["dialplan_version"] == old_version

    before = set(_records(redis_server))
    new_agent = sipp.agent(Agent(name="agent3", port=5073, ring_ms=200))
    second = sipp.caller(Caller(caller_id="+441632960205", dialled="2000", digits=((800, "2"),),
                                hangup_after_ms=1000))
    assert second.wait(40) == 0, second.errors()
    assert new_agent.wait(20) == 0, new_agent.errors()
    [second_record] = _new_records(redis_server, before)
    assert second_record["destination"] == "PJSIP/agent3"
    assert second_record["dialplan_version"] != old_version


def test_invalid_edit_is_rejected_and_calls_keep_flowing(ivr_service: SwitchboardProcess,
                                                         redis_server: RedisServer, sipp: SippFactory,
                                                         dialplans: Path) -> None:
    """A broken edit is refused with its place named; the last good version keeps answering calls."""
    broken = FLOWS.replace('"2": second_line', '"2": second_lnie')
    (dialplans / "main.yaml").write_text(broken)
    status, body = ivr_service.post("/dialplans/reload")
    assert status == 422, body
    problems = json.loads(body)["problems"]
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "second_lnie" in text)
    assert any(p.startswith(f"{dialplans / 'main.yaml'}:{line}:") and "did you mean 'second_line'" in p
               for p in problems), problems
    assert ivr_service.metric("switchboard_dialplan_reloads_total", 'result="rejected"') >= 1

    before = set(_records(redis_server))
    agent = sipp.agent(Agent(name="agent2", port=5072, ring_ms=200))
    caller = sipp.caller(Caller(caller_id="+441632960206", dialled="2000", digits=((800, "2"),),
                                hangup_after_ms=1000))
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    [record] = _new_records(redis_server, before)
    assert record["destination"] == "PJSIP/agent2"


def test_sighup_and_reload_command(asterisk: AsteriskSandbox, redis_server: RedisServer, tmp_path: Path,
                                   dialplans: Path) -> None:
    """With the watcher idle, SIGHUP and `switchboard reload` each validate and swap in an edit."""
    proc = SwitchboardProcess(tmp_path / "quiet", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {dialplans}\n  watch_interval: 3600\n").start()
    try:
        def version() -> str:
            _, body = http_get(proc.metrics_url)
            return next(line.split('version="')[1].split('"')[0] for line in body.splitlines()
                        if line.startswith("switchboard_dialplan_info{"))
        first = version()
        (dialplans / "main.yaml").write_text(FLOWS.replace("vm-goodbye", "beep"))
        assert proc.process is not None
        proc.process.send_signal(signal.SIGHUP)
        wait_until(lambda: version() != first, 10, "the SIGHUP reload")
        second = version()
        (dialplans / "main.yaml").write_text(FLOWS.replace("vm-goodbye", "silence/1"))
        done = subprocess.run([sys.executable, "-m", "switchboard.cli", "reload", "--config",
                               str(proc.workdir / "settings.yaml")], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "SWITCHBOARD_AMI_SECRET": asterisk.ami_secret})
        assert done.returncode == 0, done.stderr
        assert "reloaded" in done.stdout
        assert version() not in (first, second)
    finally:
        proc.stop()
