"""End to end: callers waiting in line hear their place at the configured times, on real Asterisk 22 + sipp.

What the callers hear is checked on Asterisk's own events: every AGI command a call runs is reported as an
`AGIExecStart` event (AMI class `agi`), read by a test-only observer user added to the sandbox's manager.conf
(Switchboard's own AMI user neither reads nor needs that class). The sandbox's stasis.conf declines the AGI exec
messages (nobody else reads them), so these tests run on an Asterisk restarted with them kept.
"""
from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Iterator

import asterisk.manager
import pytest

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess, wait_until
from tests.e2e.sipp import Caller, SippFactory

NUMBERS = 'numbers: {"3000": queue}\ndefault: queue\n'
ROUTING = """\
skills: [billing]
segments:
  standard: {priority: 10, aging: 0}
relaxation:
  default: []
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 8}, languages: [en]}
"""
FLOWS = """\
flows:
  queue:
    start: billing
    nodes:
      billing: {type: route, skills: {billing: 3}, queue: billing, overflow: bye,
                announce: {position: true, first_after: 0, every: 10}}
      bye: {type: hangup}
"""
OBSERVER = "sbtest-observer"
AGI_EXEC = ("agi_exec_start_type", "agi_exec_end_type")  # the messages behind AGIExecStart/End


class PlaybackWatcher:
    """A test-only AMI user reading the `agi` class: (seconds since start, caller, command) of every AGI command."""

    def __init__(self, secret: str) -> None:
        self.started = time.monotonic()
        self.commands: list[tuple[float, str, str]] = []
        self._changed = threading.Condition()
        self._manager = asterisk.manager.Manager()
        self._manager.register_event("AGIExecStart", self._record)
        self._manager.connect("127.0.0.1", 5038)
        reply = self._manager.send_action({"Action": "Login", "Username": OBSERVER, "Secret": secret,
                                           "Events": "agi"})
        if reply.get_header("Response") != "Success":
            self._manager.close()
            raise SandboxError(f"observer login refused: {reply.get_header('Message')}")

    def _record(self, event: asterisk.manager.Event, manager: asterisk.manager.Manager) -> None:
        with self._changed:
            self.commands.append((time.monotonic() - self.started, event.headers.get("CallerIDNum", ""),
                                  event.headers.get("Command", "")))
            self._changed.notify_all()

    def heard(self, caller: str) -> list[tuple[float, str]]:
        """(seconds, prompt or number) the caller was played, in order."""
        out = []
        for at, who, command in list(self.commands):
            if who == caller and command.startswith(("STREAM FILE", "SAY NUMBER")):
                out.append((at, command.split()[2].strip('"')))
        return out

    def close(self) -> None:
        try:
            self._manager.close()
        except (asterisk.manager.ManagerException, OSError, ValueError):
            pass  # the connection is gone already


@pytest.fixture
def agi_events(asterisk: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """The session's Asterisk restarted with the AGI exec messages kept, and restarted as configured after."""
    asterisk.stop()
    asterisk.keep_messages = AGI_EXEC
    try:
        asterisk.start()
        yield asterisk
    finally:
        asterisk.stop()
        asterisk.keep_messages = ()
        asterisk.start()


@pytest.fixture
def playback(agi_events: AsteriskSandbox) -> Iterator[PlaybackWatcher]:
    asterisk = agi_events
    conf = asterisk.outer / "etc" / "manager.conf"
    original = conf.read_text()
    secret = secrets.token_hex(12)
    conf.write_text(original + f"\n[{OBSERVER}]\nsecret={secret}\ndeny=0.0.0.0/0.0.0.0\n"
                               "permit=127.0.0.1/255.255.255.255\nread=agi\nwrite=\n")
    asterisk.cli("manager reload")
    watcher = PlaybackWatcher(secret)
    yield watcher
    watcher.close()
    conf.write_text(original)
    asterisk.cli("manager reload")


@pytest.fixture
def announcing_service(agi_events: AsteriskSandbox, redis_server: RedisServer,
                       tmp_path: Path) -> Iterator[SwitchboardProcess]:
    asterisk = agi_events
    redis_server.command("flushall")
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {folder}\n").start()
    yield proc
    proc.stop()


def test_callers_in_line_hear_their_place_every_ten_seconds(announcing_service: SwitchboardProcess,
                                                             playback: PlaybackWatcher, sipp: SippFactory) -> None:
    """No agent free: the first caller hears 'you are next' on entry and every 10 s; the second hears 'there are
    2 calls waiting', then 'you are next' once the first caller has left."""
    first_id, second_id = "+442079460601", "+442079460602"
    first = sipp.caller(Caller(caller_id=first_id, dialled="3000", hangup_after_ms=13000))
    wait_until(lambda: bool(playback.heard(first_id)), 15, "the first caller's entry announcement")
    second = sipp.caller(Caller(caller_id=second_id, dialled="3000", hangup_after_ms=24000))
    assert first.wait(40) == 0, first.errors()
    assert second.wait(40) == 0, second.errors()
    ones = playback.heard(first_id)
    twos = playback.heard(second_id)
    assert [w for _, w in ones] == ["queue-youarenext"] * len(ones) and len(ones) == 2, ones
    assert 9.0 <= ones[1][0] - ones[0][0] <= 11.5, ones
    words = [w for _, w in twos]
    assert words[:3] == ["queue-thereare", "2", "queue-callswaiting"], twos
    assert words[-1] == "queue-youarenext", twos
    starts = [at for at, w in twos if w in ("queue-thereare", "queue-youarenext")]
    assert len(starts) == 3 and all(9.0 <= b - a <= 11.5 for a, b in zip(starts, starts[1:])), twos
