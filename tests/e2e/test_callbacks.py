"""End to end: in-queue callbacks on real Asterisk 22 + sipp + Redis — the place is kept, the agent then the customer
are called through the originate-only AMI user and bridged, failed attempts are retried then given up, and a
restart of the service between the request and the callback loses nothing.

The callers are sipp UACs pressing keys over SIP INFO; the agent and the customer are sipp UAS phones (the
customer's behind the sandbox's callback trunk `switchboard_callback`, port 5081). What happened is read from
Redis (the request's record and the router's explanations) and from Asterisk's own events.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import AMIWatcher, AsteriskSandbox, RedisServer, SwitchboardProcess, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory

NUMBERS = 'numbers: {"3000": queue, "3001": customer_first, "3002": support}\ndefault: queue\n'
ROUTING = """\
skills: [billing, support]
segments:
  standard: {priority: 10, aging: 0}
wrap_up: 20
ring_no_answer: {timeout: 6, action: skip, penalty: 1}
relaxation:
  default: []
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 8}, languages: [en]}
  agent2: {name: Bo, endpoint: PJSIP/agent2, skills: {support: 8}, languages: [en]}
"""
FLOWS = """\
flows:
  queue:
    start: billing
    nodes:
      billing: {type: route, skills: {billing: 3}, queue: billing, overflow: bye,
                callback: {offer_after: 0, key: "1", confirm_number: true, max_attempts: 2, retry_after: 10}}
      bye: {type: hangup}
  customer_first:
    start: billing
    nodes:
      billing: {type: route, skills: {billing: 3}, queue: billing, overflow: bye,
                callback: {offer_after: 0, key: "1", max_attempts: 1, order: customer_first}}
      bye: {type: hangup}
  support:
    start: agents
    nodes:
      agents: {type: route, skills: {support: 3}, queue: support, overflow: bye}
      bye: {type: hangup}
"""
CUSTOMER = "+442079460701"
LATER = "+442079460702"
# press 1 during the offer, then 1 to confirm the caller ID while it is read back; the service hangs up after thanks
TAKES_CALLBACK = ((1500, "1"), (2500, "1"))


@pytest.fixture
def originate_secret(asterisk: AsteriskSandbox) -> Iterator[str]:
    """The originate-only AMI user's secret, written where manager_switchboard.conf #tryincludes it."""
    secret = secrets.token_hex(16)
    path = asterisk.outer / "etc" / "switchboard-ami-originate-secret.conf"
    path.write_text(f"secret={secret}\n")
    path.chmod(0o600)
    asterisk.cli("manager reload")
    yield secret
    path.unlink()
    asterisk.cli("manager reload")


def _service(asterisk: AsteriskSandbox, redis_server: RedisServer, folder: Path, workdir: Path,
             secret: str) -> SwitchboardProcess:
    return SwitchboardProcess(workdir, redis_server.url, asterisk.ami_secret,
                              extra_env={"SWITCHBOARD_AMI_ORIGINATE_SECRET": secret},
                              extra_settings=f"ivr:\n  dialplans: {folder}\n"
                                             "cti:\n  default_region: GB\n"
                                             "callbacks:\n  enabled: true\n  lease: 2\n  beat: 0.5\n")


@pytest.fixture
def dialplans(tmp_path: Path, redis_server: RedisServer) -> Path:
    redis_server.command("flushall")
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    return folder


@pytest.fixture
def callback_service(asterisk: AsteriskSandbox, redis_server: RedisServer, dialplans: Path, tmp_path: Path,
                     originate_secret: str) -> Iterator[SwitchboardProcess]:
    proc = _service(asterisk, redis_server, dialplans, tmp_path / "service", originate_secret).start()
    yield proc
    proc.stop()


@pytest.fixture
def ami_events(asterisk: AsteriskSandbox) -> Iterator[AMIWatcher]:
    watcher = AMIWatcher(asterisk.ami_secret)
    yield watcher
    watcher.close()


def _request(redis_server: RedisServer, number: str = CUSTOMER) -> str:
    """The id of the pending request to `number`, once the desk has it."""
    found: list[str] = []

    def there() -> bool:
        found[:] = redis_server.command("smembers", f"sb:{{sb}}:callbacks:number:{number}").split()
        return bool(found)
    wait_until(there, 30, f"a callback request to {number}")
    return found[0]


def _field(redis_server: RedisServer, rid: str, name: str) -> str:
    return redis_server.command("hget", f"sb:{{sb}}:callback:{rid}", name).strip()


def _ask_for_callback(sipp: SippFactory, caller_id: str = CUSTOMER, dialled: str = "3000") -> None:
    caller = sipp.caller(Caller(caller_id=caller_id, dialled=dialled, digits=TAKES_CALLBACK, hangup_after_ms=None))
    assert caller.wait(40) == 0, caller.errors()  # the service thanked the caller and hung up


def _login(service: SwitchboardProcess, agent: str = "agent1") -> None:
    code, body = service.post(f"/agents/{agent}/login")
    assert code == 200, body


def _assigned_at(redis_server: RedisServer, uid: str) -> int:
    lines = redis_server.command("lrange", "sb:{sb}:explain:" + uid, "0", "-1").splitlines()
    stamps = [int(line.split(" ", 1)[0]) for line in lines if " assigned agent1:" in line]
    assert stamps, lines
    return stamps[0]


def test_callback_keeps_its_place_and_bridges_agent_and_customer(callback_service: SwitchboardProcess,
                                                                  redis_server: RedisServer, sipp: SippFactory,
                                                                  ami_events: AMIWatcher) -> None:
    """A caller asks for a callback and hangs up; a second caller waits; when the agent frees, the callback is
    originated first (its place kept), the agent answers, then the customer's phone answers and both are bridged."""
    _ask_for_callback(sipp)
    rid = _request(redis_server)
    assert _field(redis_server, rid, "state") == "waiting"
    later = sipp.caller(Caller(caller_id=LATER, dialled="3000", hangup_after_ms=60000))
    wait_until(lambda: redis_server.command("zcard", "sb:{sb}:qwait:billing").strip() == "2", 20,
               "the callback and the later caller in line")
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
    customer = sipp.agent(Agent(name="customer", port=5081, ring_ms=300, talk_ms=3000))
    _login(callback_service)
    bridged = ami_events.wait_for(lambda e: e.get("Event") == "DialEnd" and e.get("DialStatus") == "ANSWER"
                                  and e.get("DestChannel", "").startswith("PJSIP/switchboard_callback-"), 30,
                                  "the customer's leg answered")
    assert bridged.get("Channel", "").startswith("PJSIP/agent1-")  # agent first, then the customer
    assert customer.wait(30) == 0, customer.errors()
    assert agent.wait(30) == 0, agent.errors()
    wait_until(lambda: _field(redis_server, rid, "state") == "done", 20, "the callback's end")
    assert (_field(redis_server, rid, "outcome"), _field(redis_server, rid, "log")) == ("connected", "1:answered")
    # the later caller is still in line: the agent was the callback's first (and is in wrap-up now)
    assert redis_server.command("zcard", "sb:{sb}:qwait:billing").strip() == "1"
    assert callback_service.metric("switchboard_callbacks_connected_total", 'queue="billing"') == 1
    assert callback_service.metric("switchboard_callbacks_accepted_total", 'queue="billing"') == 1
    later.stop()


def test_customer_first_calls_the_customer_then_the_agent(callback_service: SwitchboardProcess,
                                                         redis_server: RedisServer, sipp: SippFactory,
                                                         ami_events: AMIWatcher) -> None:
    """With order customer_first the customer's phone is called first (on the callback trunk), then the agent's."""
    _ask_for_callback(sipp, dialled="3001")
    rid = _request(redis_server)
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
    customer = sipp.agent(Agent(name="customer", port=5081, ring_ms=300, talk_ms=3000))
    _login(callback_service)
    bridged = ami_events.wait_for(lambda e: e.get("Event") == "DialEnd" and e.get("DialStatus") == "ANSWER"
                                  and e.get("DestChannel", "").startswith("PJSIP/agent1-"), 30,
                                  "the agent's leg answered")
    assert bridged.get("Channel", "").startswith("PJSIP/switchboard_callback-")  # the customer was called first
    assert customer.wait(30) == 0, customer.errors()
    assert agent.wait(30) == 0, agent.errors()
    wait_until(lambda: _field(redis_server, rid, "state") == "done", 20, "the callback's end")
    assert (_field(redis_server, rid, "outcome"), _field(redis_server, rid, "order")) == ("connected",
                                                                                         "customer_first")


def test_calling_in_again_and_reaching_an_agent_cancels_the_callback(callback_service: SwitchboardProcess,
                                                                     redis_server: RedisServer,
                                                                     sipp: SippFactory) -> None:
    """The customer asks for a callback, then calls in again (another line) and reaches an agent: the pending
    request ends cancelled and leaves the line, so nobody calls them back."""
    _ask_for_callback(sipp)
    rid = _request(redis_server)
    _login(callback_service, "agent2")
    agent2 = sipp.agent(Agent(name="agent2", port=5072, ring_ms=300, talk_ms=1500))
    again = sipp.caller(Caller(caller_id=CUSTOMER, dialled="3002", hangup_after_ms=None))
    assert again.wait(30) == 0, again.errors()
    assert agent2.wait(30) == 0, agent2.errors()
    wait_until(lambda: _field(redis_server, rid, "state") == "done", 20, "the request cancelled")
    assert _field(redis_server, rid, "outcome") == "cancelled"
    assert redis_server.command("zscore", "sb:{sb}:qwait:billing", rid).strip() == ""


def test_failed_attempts_are_retried_then_given_up(callback_service: SwitchboardProcess, redis_server: RedisServer,
                                                  sipp: SippFactory) -> None:
    """The customer's phone never answers: attempt 1 (no-answer), a retry 10 s later (no-answer), then the request
    is given up as failed; each attempt's outcome is kept and counted."""
    _ask_for_callback(sipp)
    rid = _request(redis_server)
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300), calls=2)
    customer = sipp.agent(Agent(name="customer", port=5081, answers=False), calls=2)
    _login(callback_service)
    wait_until(lambda: _field(redis_server, rid, "state") == "done", 60, "the request given up")
    assert (_field(redis_server, rid, "outcome"), _field(redis_server, rid, "log")) == (
        "failed", "1:no-answer,2:no-answer")
    assert callback_service.metric("switchboard_callback_attempts_total",
                                   'outcome="no-answer",queue="billing"') == 2
    assert callback_service.metric("switchboard_callbacks_failed_total", 'queue="billing"') == 1
    assert customer.wait(30) == 0, customer.errors()
    assert agent.wait(30) == 0, agent.errors()


def test_restart_between_request_and_callback_loses_nothing(asterisk: AsteriskSandbox, redis_server: RedisServer,
                                                            dialplans: Path, tmp_path: Path, originate_secret: str,
                                                            sipp: SippFactory) -> None:
    """The service restarts after the request; the new process takes the desk over, puts the request back in line
    with its original time, and calls back when the agent logs in."""
    first = _service(asterisk, redis_server, dialplans, tmp_path / "first", originate_secret).start()
    try:
        _ask_for_callback(sipp)
        rid = _request(redis_server)
        enq = _field(redis_server, rid, "enq")
    finally:
        first.stop()
    second = _service(asterisk, redis_server, dialplans, tmp_path / "second", originate_secret).start()
    try:
        wait_until(lambda: redis_server.command("zscore", "sb:{sb}:qwait:billing", rid).strip() == enq, 20,
                   "the request back in line with its original time")
        agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
        customer = sipp.agent(Agent(name="customer", port=5081, ring_ms=300, talk_ms=2000))
        _login(second)
        assert customer.wait(40) == 0, customer.errors()
        assert agent.wait(30) == 0, agent.errors()
        wait_until(lambda: _field(redis_server, rid, "outcome") == "connected", 20, "the callback connected")
    finally:
        second.stop()


DENIED_TO_ORIGINATE_USER = {
    "Setvar": {"Variable": "FALLBACK_DIAL", "Value": "PJSIP/attacker"},
    "Redirect": {"Channel": "PJSIP/callers-00000001", "Context": "from-callers", "Exten": "s", "Priority": "1"},
    "Hangup": {"Channel": "PJSIP/callers-00000001"},
    "Command": {"Command": "core show version"},
    "GetConfig": {"Filename": "manager.conf"},
    "UserEvent": {"UserEvent": "SwitchboardFallback", "Reason": "spoofed"},
    "DeviceStateList": {},
    "Originate": {"Channel": "Local/s@switchboard-fallback", "Application": "System", "Data": "id",
                  "Async": "true"},  # an application such as System needs the system class as well
}


@pytest.mark.parametrize("action", sorted(DENIED_TO_ORIGINATE_USER))
def test_the_originate_user_may_only_originate(asterisk: AsteriskSandbox, originate_secret: str,
                                               action: str) -> None:
    """The callback user (write=originate, no read) is refused every other action, and any Originate that would run
    an application like System; a plain Originate into the callback context is accepted."""
    ami = asterisk_manager()
    ami.connect("127.0.0.1", 5038)
    try:
        reply = ami.send_action({"Action": "Login", "Username": "switchboard-originate", "Secret": originate_secret,
                                 "Events": "off"})
        assert reply.get_header("Response") == "Success", reply.get_header("Message")
        denied = ami.send_action({"Action": action, **DENIED_TO_ORIGINATE_USER[action]})
        assert denied.get_header("Response") == "Error", (action, denied.get_header("Message"))
        refusal = "Originate Access Forbidden" if action == "Originate" else "Permission denied"
        assert denied.get_header("Message").startswith(refusal), (action, denied.get_header("Message"))
        allowed = ami.send_action({"Action": "Originate", "Channel": "Local/cb-probe@switchboard-callback",
                                   "Application": "Wait", "Data": "0", "Async": "true", "Timeout": "1000"})
        assert allowed.get_header("Response") == "Success", allowed.get_header("Message")
    finally:
        try:
            ami.close()
        except (ValueError, OSError):
            pass
    asterisk.quiesce()


def asterisk_manager() -> "asterisk.manager.Manager":  # type: ignore[name-defined]
    """pyst2's manager (the e2e tier's independent AMI client)."""
    import asterisk.manager
    return asterisk.manager.Manager()
