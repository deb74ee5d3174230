"""The demo: real Asterisk 22 + Redis + the Switchboard service + sipp callers and agents, end to end.

Places a handful of calls that show the first flow's paths, then prints what happened to each call (from the
call-context records in Redis) and where the metrics are. `--keep` leaves everything running until Ctrl-C.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess, http_get, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory


@dataclass(frozen=True)
class DemoCall:
    """One scripted call of the demo and what it is meant to show."""

    title: str
    caller: Caller
    agent: Agent | None


CALLS = (
    DemoCall("presses 2 during the greeting, talks to agent1",
             Caller(caller_id="+441632960101", digits=((700, "2"),), hangup_after_ms=2000), Agent("agent1", 5071)),
    DemoCall("presses nothing, is put through after the menu timeout",
             Caller(caller_id="02079460102", hangup_after_ms=7500), Agent("agent1", 5071)),
    DemoCall("hangs up during the greeting",
             Caller(caller_id="+441632960103", hangup_after_ms=1000), None),
)


def _records(redis: RedisServer) -> dict[str, dict[str, str]]:
    out = {}
    for key in redis.command("--scan", "--pattern", "switchboard:call:*").split():
        fields = redis.command("hgetall", key).splitlines()
        out[key] = dict(zip(fields[::2], fields[1::2]))
    return out


def _ended_record(redis: RedisServer, before: set[str]) -> dict[str, str]:
    """The call's record once the flow has written its last fields (sipp exits first, on the BYE)."""
    def new() -> list[dict[str, str]]:
        return [v for k, v in _records(redis).items() if k not in before]
    try:
        wait_until(lambda: any(r.get("state") == "ended" for r in new()), 15, "the call record")
    except SandboxError:
        pass  # print whatever the record holds; a missing field shows as "-"
    records = new()
    return records[0] if records else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep Asterisk, Redis and the service running")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchboard-demo-"))
    print(f"demo workspace: {work}")
    asterisk = AsteriskSandbox(name="demo")
    redis = RedisServer(work / "redis")
    service: SwitchboardProcess | None = None
    try:
        print("starting Redis ...", flush=True)
        redis.start()
        print("starting Asterisk 22 (chroot sandbox) ...", flush=True)
        asterisk.start()
        print("starting Switchboard ...", flush=True)
        service = SwitchboardProcess(work / "service", redis.url, asterisk.ami_secret).start()
        sipp = SippFactory(work / "sipp")
        print(f"placing {len(CALLS)} calls\n")
        for number, call in enumerate(CALLS, 1):
            before = set(_records(redis))
            agent = sipp.agent(call.agent) if call.agent else None
            caller = sipp.caller(call.caller)
            caller_ok = caller.wait(60) == 0
            if agent is not None:
                try:
                    agent.wait(20)
                finally:
                    agent.stop()
            record = _ended_record(redis, before)
            print(f"call {number}: {call.title}")
            print(f"   caller {call.caller.caller_id} -> sipp {'completed' if caller_ok else 'FAILED'}; "
                  f"menu choice={record.get('choice', '-')} dial={record.get('dial_status', '-')} "
                  f"result={record.get('result', '-')} last step={record.get('last_step', '-')}")
        print()
        _, body = http_get(service.metrics_url)
        wanted = ("switchboard_inbound_calls_total{", "switchboard_agi_sessions_total{",
                  "switchboard_agi_rejected_peers_total ", "switchboard_ami_connected ")
        print("metrics snapshot:")
        for line in body.splitlines():
            if line.startswith(wanted) and not line.endswith(" 0.0"):
                print(f"   {line}")
        print(f"\nmetrics: {service.metrics_url}   health: http://127.0.0.1:{service.http_port}/readyz")
        print(f"logs: {service.log_file}  {asterisk.log_file}")
        if args.keep:
            print("running; Ctrl-C to stop")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        return 0
    finally:
        if service is not None:
            service.stop()
        asterisk.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
