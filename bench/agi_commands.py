"""AGI commands per full example call, by verb, and the service-side CPU they cost — no Redis, no Asterisk.

The call script (`InboundCalls`) runs `dialplans/`'s `main` flow on the real FastAGI listener over loopback, with
in-memory stand-ins for the stores (every caller a recognised gold customer; an agent free at once, who answers).
A fake Asterisk in a child process (so its CPU is not counted) drives the calls: it keeps each call's channel
variables, runs MSet / SET VARIABLE / GET VARIABLE / GET FULL VARIABLE on them, answers the menus with 1 (English)
and 1 (billing) and every Dial as answered. The path is the full example call of bench/call_cost.py without its
Redis trips: what changes with the number of AGI commands.

Reported: commands per call by verb, the variables the channel held at the end of the first call, and the
service process's CPU per call (best and median of the rounds). Run it with another checkout's interpreter to
compare trees (the child is this same file):

    python bench/agi_commands.py [--calls 2000] [--rounds 5] [--concurrency 20]
    /other/checkout/.venv/bin/python bench/agi_commands.py      # the same bench on that checkout's code
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # the example flow is open


# --- the fake Asterisk (child process) -------------------------------------------------------------------------
def _words(line: str) -> list[str]:
    """The words of an AGI line (quotes and backslashes as res_agi.c reads them)."""
    words: list[str] = []
    current: str | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            current = "" if quoted and current is None else current
        elif ch in " \t" and not quoted and not escaped:
            if current is not None:
                words.append(current)
            current = None
        elif ch == "\\" and not escaped:
            escaped = True
        else:
            current = (current or "") + ch
            escaped = False
    return words + ([current] if current is not None else [])


def _mset(data: str) -> dict[str, str]:
    """MSet's pairs, unescaped once (enough for the example call's plain values)."""
    out: dict[str, str] = {}
    pair, escaped, pairs = "", False, []
    for ch in data:
        if escaped:
            pair, escaped = pair + ch, False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            pairs.append(pair)
            pair = ""
        else:
            pair += ch
    pairs.append(pair)
    for item in pairs:
        name, _, value = item.partition("=")
        out[name] = value
    return out


async def _call(port: int, uid: str, verbs: Counter[str], keep: dict[str, str] | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = {"agi_network": "yes", "agi_network_script": "inbound", "agi_request": "agi://127.0.0.1/inbound",
              "agi_channel": f"PJSIP/callers-{uid}", "agi_language": "en", "agi_uniqueid": uid,
              "agi_callerid": "+442079460001", "agi_dnid": "2000", "agi_extension": "2000"}
    writer.write("".join(f"{k}: {v}\n" for k, v in header.items()).encode() + b"\n")
    digits, variables = ["1", "1"], {}
    while line := (await reader.readline()).decode().rstrip("\n"):
        words = _words(line)
        verb = " ".join(words[:2]) if words[0] in ("EXEC", "SET", "GET", "STREAM", "WAIT") else words[0]
        verb = "GET FULL VARIABLE" if words[:2] == ["GET", "FULL"] else verb
        verbs[verb] += 1
        reply = "200 result=0"
        if verb == "EXEC MSet":
            variables.update(_mset(words[2]))
        elif verb == "EXEC Dial":
            variables.update(DIALSTATUS="ANSWER", ANSWEREDTIME="42")
        elif verb == "SET VARIABLE":
            variables[words[2]] = words[3]
        elif verb == "GET VARIABLE":
            value = variables.get(words[2])
            reply = "200 result=0" if value is None else f"200 result=1 ({value})"
        elif verb == "GET FULL VARIABLE":
            text = words[3]
            for name, value in variables.items():
                text = text.replace("${" + name + "}", value)
            reply = f"200 result=1 ({text})"
        elif verb == "STREAM FILE" and digits and digits[0] in words[3]:
            reply = f"200 result={ord(digits.pop(0))} endpos=8000"
        elif verb == "HANGUP":
            reply = "200 result=1"
        writer.write(reply.encode() + b"\n")
        if verb == "HANGUP":
            break
    writer.close()
    if keep is not None:
        keep.update(variables)


async def _drive(port: int, calls: int, concurrency: int, first: int) -> tuple[Counter[str], dict[str, str]]:
    verbs: Counter[str] = Counter()
    held: dict[str, str] = {}
    numbers = iter(range(first, first + calls))

    async def worker() -> None:
        for i in numbers:
            await _call(port, f"1700000000.{i}", verbs, held if i == first else None)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return verbs, held


def asterisk_main(port: int, concurrency: int) -> None:
    """The child: reads `calls first` lines, drives them, answers with the verbs counted (JSON)."""
    for line in sys.stdin:
        calls, first = map(int, line.split())
        verbs, held = asyncio.run(_drive(port, calls, concurrency, first))
        print(json.dumps({"verbs": verbs, "held": held}), flush=True)


# --- the service side (this process) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Customer:
    id: str
    segment: str
    language: str
    account: str = ""


@dataclass(frozen=True)
class Found:
    result: str
    number: str | None
    segment: str
    confidence: str
    customer: Customer | None


class Callers:
    async def begin_call(self, call: object, caller_id: str | None, caller_name: str | None) -> Found:
        return Found("found", caller_id, "gold", "ani", Customer("c-1", "gold", "en", "5550"))


class Journal:
    async def write(self, call: object) -> None:
        return None

    async def finish(self, call: object, end: object) -> None:
        return None


@dataclass(frozen=True)
class Offer:
    agent: str
    endpoint: str


class Ticket:
    ring_timeout, wrap_up, ready = 15.0, 0.0, True

    async def wait(self) -> Offer:
        return Offer("a7", "PJSIP/a7")

    async def hold(self, agent: str) -> None: ...

    async def not_answered(self, agent: str) -> None: ...

    async def finished(self, agent: str) -> None: ...

    async def leave(self) -> None: ...

    async def estimate(self) -> None: ...

    async def unreachable(self) -> str:
        await asyncio.Event().wait()
        return ""


class Desk:
    async def request(self, uid: str, **_: object) -> Ticket:
        return Ticket()


@dataclass
class Plan:
    current: object


async def service_main(calls: int, rounds: int, concurrency: int) -> None:
    from switchboard.ivr.agi_server import AGIServer
    from switchboard.ivr.call_ports import QuietFlow
    from switchboard.ivr.call_script import CallPorts, InboundCalls
    from switchboard.ivr.flow_engine import EngineOptions, FlowEngine
    from switchboard.ivr.flow_loader import load_dialplan
    from switchboard.metrics.service_metrics import ServiceMetrics
    from prometheus_client import CollectorRegistry
    import switchboard.ivr

    tree = Path(switchboard.ivr.__file__).resolve().parent.parent  # the checkout whose code runs (its interpreter's)
    logging.basicConfig(level=logging.WARNING)
    plan = load_dialplan(tree / "dialplans")[0]
    engine = FlowEngine(EngineOptions(route_desk=Desk()), logging.getLogger("flow"),  # type: ignore[arg-type]
                        clock=lambda: MONDAY_MORNING)
    script = InboundCalls(Plan(plan), engine, CallPorts(journal=Journal(), flows=QuietFlow(),  # type: ignore[arg-type]
                                                        callers=Callers()), logging.getLogger("call"))
    server = AGIServer(asyncio.get_running_loop(), {"inbound": script}, allowed_peers=["127.0.0.1/32"],
                       header_timeout=5, command_timeout=30, events=ServiceMetrics(CollectorRegistry()),
                       logger=logging.getLogger("agi"))
    await server.start("127.0.0.1", 0)
    child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--asterisk", str(server.port),
                                                 "--concurrency", str(concurrency), stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None

    async def run(n: int, first: int) -> tuple[float, dict[str, object]]:
        assert child.stdin is not None and child.stdout is not None
        started = time.process_time()
        child.stdin.write(f"{n} {first}\n".encode())
        await child.stdin.drain()
        answer = json.loads(await child.stdout.readline())
        return time.process_time() - started, answer

    await run(min(200, calls), 10_000_000)  # warm-up
    cpu: list[float] = []
    answer: dict[str, object] = {}
    for r in range(rounds):
        seconds, answer = await run(calls, r * calls)
        cpu.append(seconds / calls * 1e6)
    child.stdin.close()
    await child.wait()
    await server.stop(1.0)
    verbs = Counter(answer["verbs"])  # type: ignore[arg-type]
    head = subprocess.run(["git", "-C", str(tree), "log", "--oneline", "-1"], capture_output=True, text=True)
    print(f"code of {tree} ({head.stdout.strip()[:60]})")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"AGI commands per call: {sum(verbs.values()) / calls:.1f}  "
          + ", ".join(f"{v} {n / calls:g}" for v, n in sorted(verbs.items())))
    prompts = sum(n for v, n in verbs.items() if v in ("STREAM FILE", "WAIT FOR", "GET DATA"))
    print(f"  besides prompts and key waits: {(sum(verbs.values()) - prompts) / calls:.1f}")
    held = answer["held"]
    assert isinstance(held, dict)
    print("channel variables at the end of a call: " + ", ".join(f"{k}={v}" for k, v in sorted(held.items())))
    print(f"service CPU per call: best {min(cpu):.0f} µs, median {statistics.median(cpu):.0f} µs "
          f"({calls} calls × {rounds} rounds, concurrency {concurrency})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--asterisk", type=int, help=argparse.SUPPRESS)  # the child: the service's port
    args = parser.parse_args()
    if args.asterisk is not None:
        asterisk_main(args.asterisk, args.concurrency)
    else:
        import uvloop
        uvloop.run(service_main(args.calls, args.rounds, args.concurrency))
