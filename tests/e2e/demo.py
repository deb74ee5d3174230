"""The demo: real Asterisk 22 + Redis + the Switchboard service + sipp callers and agents, end to end.

Runs the example flows of `dialplans/` (a copy whose opening hours are set to "always open", so the demo behaves
the same at any hour) with the three demo agents logged in, imports a few fictional customers, places calls that
show recognition, menus, sub-flows and skills routing, then prints what happened to each call (from the
call-context records and the router's decision log in Redis), where the metrics are, and the agent desktop and
wallboard URLs with demo credentials to sign in with.
`--keep` leaves everything running until Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from tests.e2e.sandbox import REPO, AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess, http_get, wait_until
from tests.e2e.sipp import Agent, Caller, SippFactory

DEMO_PEPPER = "demo-pepper-not-a-secret"
CUSTOMERS = [  # fictional people on Ofcom's drama numbers
    {"id": "demo-vip", "name": "Vera Important", "phones": ["+442079460501"], "segment": "vip",
     "account": "55501234", "open_cases": ["CASE-1042"]},
    {"id": "demo-gold", "name": "Gus Gold", "phones": ["02079460502"], "segment": "gold", "account": "55505678"},
]


@dataclass(frozen=True)
class DemoCall:
    """One scripted call of the demo and what it is meant to show."""

    title: str
    caller: Caller


AGENTS = (Agent("agent1", 5071, ring_ms=400), Agent("agent2", 5072, ring_ms=400), Agent("agent3", 5073, ring_ms=400))


# main flow: welcome (a key answers the language menu) → language → VIP branch or main menu (1 billing, 2 support)
CALLS = (
    DemoCall("known VIP: recognised by caller ID, skips the menu, routed to a general agent",
             Caller(caller_id="+442079460501", dialled="2000", digits=((800, "1"),), hangup_after_ms=6000)),
    DemoCall("known gold customer presses 1 (billing): no identify needed, the best free billing agent",
             Caller(caller_id="02079460502", dialled="2000", digits=((800, "1"), (1500, "1")), hangup_after_ms=6000)),
    DemoCall("unknown caller presses 2 (support sub-flow), then 2 (new problem): the support agent",
             Caller(caller_id="+442079460503", dialled="2000", digits=((800, "1"), (1500, "2"), (1500, "2")),
                    hangup_after_ms=6000)),
    DemoCall("caller hangs up during the welcome",
             Caller(caller_id="+442079460504", dialled="2000", hangup_after_ms=800)),
)


def always_open(source: Path, target: Path) -> Path:
    """Copies dialplans/ with the main flow's opening hours set to every day, all day (no holidays/closures)."""
    shutil.copytree(source, target)
    yaml = YAML()
    path = target / "main.yaml"
    doc = yaml.load(path.read_text())
    hours = doc["flows"]["main"]["nodes"]["office_hours"]
    hours["weekly"] = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    for key in ("holidays", "closures"):
        hours.pop(key, None)
    with path.open("w") as out:
        yaml.dump(doc, out)
    return target


def _all_available(service: SwitchboardProcess) -> bool:
    _, body = http_get(f"http://127.0.0.1:{service.http_port}/agents")
    return all(agent["state"] == "available" for agent in json.loads(body))


def _records(redis: RedisServer) -> dict[str, dict[str, str]]:
    out = {}
    for key in redis.command("--scan", "--pattern", "sb:call:*").split():
        fields = redis.command("hgetall", key).splitlines()
        out[key] = dict(zip(fields[::2], fields[1::2]))
    return out


def _ended_record(redis: RedisServer, before: set[str]) -> tuple[str, dict[str, str]]:
    """The call's uniqueid and record once the flow has written its last fields (sipp exits first, on the BYE)."""
    def new() -> dict[str, dict[str, str]]:
        return {k: v for k, v in _records(redis).items() if k not in before}
    try:
        wait_until(lambda: any(r.get("state") == "ended" for r in new().values()), 15, "the call record")
    except SandboxError:
        pass  # print whatever the record holds; a missing field shows as "-"
    records = new()
    if not records:
        return "", {}
    key, record = next(iter(records.items()))
    return key.removeprefix("sb:call:").strip("{}"), record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep Asterisk, Redis and the service running")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="switchboard-demo-"))
    print(f"demo workspace: {work}")
    asterisk = AsteriskSandbox(name="demo")
    redis = RedisServer(work / "redis")
    service: SwitchboardProcess | None = None
    sipp: SippFactory | None = None
    try:
        print("starting Redis ...", flush=True)
        redis.start()
        print("starting Asterisk 22 (chroot sandbox) ...", flush=True)
        asterisk.start()
        print("starting Switchboard ...", flush=True)
        dialplans = always_open(REPO / "dialplans", work / "dialplans")
        service = SwitchboardProcess(work / "service", redis.url, asterisk.ami_secret,
                                     extra_env={"SWITCHBOARD_CTI_PEPPER": DEMO_PEPPER},
                                     extra_settings=f"ivr:\n  dialplans: {dialplans}\n").start()
        imported = service.import_customers(CUSTOMERS)
        print(f"customers: {imported.stdout.strip() or imported.stderr.strip()}")
        for agent_id in ("agent1", "agent2", "agent3"):
            service.post(f"/agents/{agent_id}/login")
        print("agents agent1 (billing 8, general 5), agent2 (support 7, general 5), agent3 (sales 6, billing 3) "
              "logged in")
        sipp = SippFactory(work / "sipp")
        for agent in AGENTS:
            sipp.agent(agent, calls=len(CALLS))
        print(f"placing {len(CALLS)} calls\n")
        for number, call in enumerate(CALLS, 1):
            wait_until(lambda: _all_available(service), 30, "every agent available (after wrap-up)")
            before = set(_records(redis))
            caller = sipp.caller(call.caller)
            caller_ok = caller.wait(90) == 0
            uid, record = _ended_record(redis, before)
            print(f"call {number}: {call.title}")
            print(f"   caller {call.caller.caller_id} -> sipp {'completed' if caller_ok else 'FAILED'}; "
                  f"recognition={record.get('recognition', '-')} segment={record.get('segment', '-')} "
                  f"confidence={record.get('confidence', '-')}")
            print(f"   path: {record.get('path', '-')}")
            print(f"   outcome={record.get('outcome', '-')} destination={record.get('destination', '-')} "
                  f"intents={record.get('intents') or '-'}")
            for line in redis.command("lrange", "sb:{sb}:explain:" + uid, "0", "-1").splitlines() if uid else []:
                if " " in line:  # "<ms> <decision>"
                    print(f"   router: {line.split(' ', 1)[1]}")
        print()
        _, body = http_get(service.metrics_url)
        wanted = ("switchboard_ivr_calls_total{", "switchboard_cti_lookups_total{", "switchboard_queue_",
                  "switchboard_agi_sessions_total{", "switchboard_ami_connected ", "switchboard_agents{")
        print("metrics snapshot:")
        for line in body.splitlines():
            if (line.startswith(wanted) and not line.endswith(" 0.0")
                    and not any(part in line for part in ("_bucket", "_created", "_sum{"))):
                print(f"   {line}")
        print(f"\nmetrics: {service.metrics_url}   health: http://127.0.0.1:{service.http_port}/readyz")
        base = f"http://127.0.0.1:{service.http_port}"
        try:
            agent_secret = service.credential("agents", "credential", "agent1")
            boss_secret = service.credential("supervisor", "credential", "supervisor")
            print(f"agent desktop: {base}/agent      sign in as agent1 with {agent_secret}")
            print(f"wallboard:     {base}/wallboard  sign in as supervisor with {boss_secret}")
            print("   (demo credentials, issued with `switchboard agents credential agent1` and "
                  "`switchboard supervisor credential supervisor`)")
        except SandboxError as exc:
            print(f"pages: credentials not issued ({exc})")
        print(f"logs: {service.log_file}  {asterisk.log_file}")
        if args.keep:
            print("running; Ctrl-C to stop")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        return 0
    finally:
        if sipp is not None:
            sipp.stop_all()
        if service is not None:
            service.stop()
        asterisk.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
