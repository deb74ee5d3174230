"""End to end: caller recognition on real Asterisk 22 + sipp + Redis — VIP screen pop, identify & verify, Redis loss."""
from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SwitchboardProcess, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory

PEPPER = "e2e-pepper-not-a-real-secret"
NUMBERS = 'numbers: {"4000": cti}\ndefault: cti\n'
ROUTING = """\
skills: [billing]
segments: {vip: {priority: 100, aging: 1}, gold: {priority: 50, aging: 0.5}, standard: {priority: 10, aging: 0.5}}
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 5}, languages: [en]}
"""
FLOWS = """\
flows:
  cti:
    start: who
    nodes:
      who:
        type: branch
        conditions: [{when: {known: true}, goto: billing}]
        else: verify
      verify:
        type: identify
        account_prompt: beep
        secret_prompt: beep
        account_digits: 8
        secret_digits: 4
        attempts: 1
        timeout: 4
        next: billing
        on_failure: billing   # unverified callers still reach an agent
        intent: identify
      billing: {type: route, skills: {billing: 1}, queue: billing, overflow: bye, intent: billing}
      bye: {type: hangup, prompt: vm-goodbye}
"""
VIP = "+442079460401"
CUSTOMERS = [{"id": "c-vip", "name": "Vera Important", "phones": [VIP], "segment": "vip", "account": "11112222",
              "open_cases": ["case-17"]},
             {"id": "c-hidden", "name": "Hugo Hidden", "phones": ["+442079460402"], "segment": "gold",
              "account": "12345678", "secret": "4321"}]


def _service(asterisk: AsteriskSandbox, redis_url: str, tmp_path: Path) -> SwitchboardProcess:
    folder = tmp_path / "dialplans"
    folder.mkdir(exist_ok=True)
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    return SwitchboardProcess(tmp_path / "service", redis_url, asterisk.ami_secret,
                              extra_env={"SWITCHBOARD_CTI_PEPPER": PEPPER},
                              extra_settings=f"ivr:\n  dialplans: {folder}\n"
                                             "cti:\n  lookup_budget: 0.2\n").start()


def _import(service: SwitchboardProcess) -> None:
    done = service.import_customers(CUSTOMERS)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def cti_service(asterisk: AsteriskSandbox, redis_server: RedisServer,
                tmp_path: Path) -> Iterator[SwitchboardProcess]:
    redis_server.command("flushall")
    proc = _service(asterisk, redis_server.url, tmp_path)
    _import(proc)
    assert proc.post("/agents/agent1/login")[0] == 200
    yield proc
    proc.stop()


class ScreenPopListener:
    """Reads an agent's Server-Sent Events stream in a thread; `ringing` is set when a ringing pop arrives."""

    def __init__(self, url: str) -> None:
        self.pops: list[dict] = []
        self.ringing = threading.Event()
        self.connected = threading.Event()
        self._response = urllib.request.urlopen(url, timeout=60)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._response:
                self._line(raw.decode().rstrip("\n"))
        except (OSError, ValueError, AttributeError):
            return  # close() from the test thread ends the stream under the reader

    def _line(self, line: str) -> None:
        if line.startswith(": connected"):
            self.connected.set()
        if line.startswith("data: "):
            pop = json.loads(line[len("data: "):])
            self.pops.append(pop)
            if pop.get("event") == "ringing":
                self.ringing.set()

    def close(self) -> None:
        self._response.close()


def test_known_vip_is_recognised_and_agent_gets_the_screen_pop(cti_service: SwitchboardProcess,
                                                               sipp: SippFactory) -> None:
    """A VIP calling from a known number is recognised and the agent's SSE stream pops the customer while ringing."""
    listener = ScreenPopListener(f"http://127.0.0.1:{cti_service.http_port}/cti/agents/agent1/events")
    assert listener.connected.wait(10)
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=500))
    caller = sipp.caller(Caller(caller_id="02079460401", dialled="4000", hangup_after_ms=2500))
    assert listener.ringing.wait(30), listener.pops
    assert caller.wait(40) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    listener.close()
    pop = next(p for p in listener.pops if p["event"] == "ringing")
    assert pop["customer"]["id"] == "c-vip" and pop["customer"]["open_cases"] == ["case-17"]
    assert pop["segment"] == "vip" and pop["confidence"] == "ani"
    assert pop["ivr_path"][:2] == ["cti.who", "cti.billing"] and pop["intents"] == ["billing"]
    assert pop["waited_seconds"] is not None
    assert cti_service.metric("switchboard_cti_lookups_total", 'result="hit"') >= 1


def test_withheld_number_goes_through_identify_and_verify(cti_service: SwitchboardProcess,
                                                          redis_server: RedisServer, sipp: SippFactory) -> None:
    """An anonymous caller keys account and secret; the verified customer reaches the agent with confidence raised."""
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
    keys = [(1500, d) for d in "1"] + [(250, d) for d in "2345678#"] + [(1500, "4")] + [(250, d) for d in "321#"]
    caller = sipp.caller(Caller(caller_id="anonymous", dialled="4000", digits=tuple(keys), hangup_after_ms=2500))
    assert caller.wait(60) == 0, caller.errors()
    assert agent.wait(20) == 0, agent.errors()
    records = {}
    def ended() -> bool:
        for key in redis_server.command("--scan", "--pattern", "sb:call:*").split():
            fields = redis_server.command("hgetall", key).splitlines()
            record = dict(zip(fields[::2], fields[1::2]))
            if record.get("recognition") == "anonymous" and record.get("state") == "ended":
                records.update(record)
                return True
        return False
    wait_until(ended, 20, "the anonymous call's record")
    assert records["customer_id"] == "c-hidden" and records["confidence"] == "verified"
    assert records["segment"] == "gold" and records["destination"] == "agent:agent1"
    assert cti_service.metric("switchboard_cti_verifications_total", 'result="verified"') == 1


def test_redis_stopped_mid_run_calls_still_reach_a_human(asterisk: AsteriskSandbox, tmp_path: Path,
                                                         sipp: SippFactory) -> None:
    """With Redis gone, a known caller goes on as unknown, the dialplan fallback rings agents, nothing crashes."""
    own = RedisServer(tmp_path / "own-redis").start()
    service = _service(asterisk, own.url, tmp_path)
    try:
        _import(service)
        own.stop()
        agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
        others = [sipp.agent(Agent(name=n, port=p, answers=False)) for n, p in (("agent2", 5072), ("agent3", 5073))]
        # unknown now: one identify attempt times out (4 s), then the route node finds no router: fallback
        caller = sipp.caller(Caller(caller_id=VIP, dialled="4000", hangup_after_ms=9000))
        assert caller.wait(60) == 0, caller.errors()
        assert agent.wait(20) == 0, agent.errors()
        for other in others:
            assert other.wait(20) == 0, other.errors()
        assert service.process is not None and service.process.poll() is None
        lookups = sum(service.metric("switchboard_cti_lookups_total", f'result="{r}"') for r in ("error", "timeout"))
        assert lookups >= 1
        assert service.metric("switchboard_ivr_calls_total", 'flow="cti",outcome="fallback"') == 1
    finally:
        service.stop()
        own.stop()
