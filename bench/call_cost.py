"""What one full call costs the service: CPU per call and Redis round trips per call, with a fake Asterisk.

The service runs as it does in production (`python -m switchboard.cli serve`, uvloop, AMI off) on a private
redis-server, with a copy of `dialplans/` whose opening hours are always open and whose routing has enough agents
(logged in and available) that no call waits. A fake Asterisk in this process drives FastAGI calls by rules: a
caller ID per call (known gold customers), the menu digits (1 = English at the welcome/language menu, 1 = billing
at the main menu), every Dial answered. The full example call is thus: opening hours, recognition, prompts,
language menu, main menu, route by skills, the agent answers, the call ends (records, history, FCR).

Between the service and Redis sits a counting proxy (this process): each burst the service writes is one round
trip (a pipeline is one write). Background work (the router's sweep and snapshots) is measured in an idle window
first and subtracted, so "call path" is what the calls themselves cost.

The baselines, in the same run: a trivial AGI script (answer, 10 commands, hang up) on the same listener class and
loop (a tiny server process built from `switchboard.ivr.agi_server.AGIServer`), driven by the same fake Asterisk;
and, with `--baseline-tree DIR`, the same full call on another checkout's code (DIR's own .venv, its own Redis and
proxy: e.g. main, to see what a change is worth). The arms run in `--pairs` rounds, interleaved (the order
alternating each round), so a load change on the shared machine hits every arm alike; the load average is printed
before and after. Service CPU comes from /proc/PID/stat (utime + stime) before and after each round's calls.

    python bench/call_cost.py [--calls 2000] [--concurrency 20] [--baseline-tree DIR] [--pairs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from redis.asyncio import Redis  # noqa: E402

from switchboard.cti.cti_store import CtiStore  # noqa: E402
from switchboard.cti.customer import Customer, CustomerRecord  # noqa: E402
from switchboard.router.route_store import RouteStore  # noqa: E402
from tests.e2e.sandbox import RedisServer, free_port, http_get, wait_until  # noqa: E402

CUSTOMERS = 50
AGENTS = 400
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --- the counting proxy between the service and Redis ----------------------------------------------------------
@dataclass
class Proxy:
    """Forwards TCP to Redis; counts the client's writes (round trips) and bytes."""

    target_port: int
    port: int = field(default_factory=free_port)
    trips: int = 0
    sent_bytes: int = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            try:
                while data := await src.read(1 << 16):
                    if count:
                        self.trips += 1
                        self.sent_bytes += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


# --- the fake Asterisk -----------------------------------------------------------------------------------------
def answer(command: str, digits: list[str]) -> str | None:
    """Asterisk's reply to one AGI command by the rules of the benchmark (None: the service hung up)."""
    verb = command.split(" ", 2)
    head = " ".join(verb[:2])
    if head == "STREAM FILE":
        escape = command.rsplit(" ", 1)[-1].strip('"')
        if escape and digits and digits[0] in escape:
            return f"200 result={ord(digits.pop(0))} endpos=8000"
        return "200 result=0 endpos=8000"
    if head == "WAIT FOR":
        return f"200 result={ord(digits.pop(0))}" if digits else "200 result=0"
    if head == "GET DATA":
        return f"200 result={digits.pop(0)}" if digits else "200 result= (timeout)"
    if head == "GET VARIABLE":
        name = verb[2] if len(verb) > 2 else ""
        return {"DIALSTATUS": "200 result=1 (ANSWER)", "ANSWEREDTIME": "200 result=1 (42)"}.get(name, "200 result=0")
    if head == "GET FULL":  # GET FULL VARIABLE ${DIALSTATUS}|${ANSWEREDTIME}: substituted as Asterisk would
        expression = command.split(" ", 3)[3] if command.count(" ") >= 3 else ""
        for name, value in (("DIALSTATUS", "ANSWER"), ("ANSWEREDTIME", "42")):
            expression = expression.replace("${" + name + "}", value)
        return f"200 result=1 ({expression})"
    if verb[0] == "HANGUP":
        return "200 result=1"
    return "200 result=0"  # ANSWER, SET VARIABLE, EXEC (Dial is answered: DIALSTATUS says so), VERBOSE...


async def one_call(port: int, uid: str, caller_id: str, script: str, show: bool = False) -> int:
    """One FastAGI call; returns how many commands the service sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = {"agi_network": "yes", "agi_network_script": script, "agi_request": f"agi://127.0.0.1/{script}",
              "agi_channel": f"PJSIP/callers-{uid}", "agi_language": "en", "agi_uniqueid": uid,
              "agi_callerid": caller_id, "agi_calleridname": "", "agi_dnid": "2000", "agi_extension": "2000"}
    writer.write("".join(f"{k}: {v}\n" for k, v in header.items()).encode() + b"\n")
    digits = ["1", "1"]
    commands = 0
    try:
        while line := await reader.readline():
            commands += 1
            reply = answer(line.decode().rstrip("\n"), digits)
            if show:
                print(f"  {line.decode().rstrip()!s:<60} <- {reply}")
            writer.write(reply.encode() + b"\n")
            if line.startswith(b"HANGUP"):
                break
    finally:
        writer.close()
    return commands


async def drive(port: int, calls: int, concurrency: int, script: str, first: int) -> tuple[float, int]:
    """`calls` calls, `concurrency` at a time; returns (seconds, commands)."""
    queue = iter(range(first, first + calls))
    commands = 0

    async def worker() -> None:
        nonlocal commands
        for i in queue:
            sent = await one_call(port, f"1700000000.{i}", caller(i), script)
            commands += sent  # (not `commands += await ...`: that reads `commands` before the await)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, commands


def caller(i: int) -> str:
    return f"+4420794{60000 + i % CUSTOMERS:05d}"


# --- the two servers -------------------------------------------------------------------------------------------
def dialplans(target: Path) -> Path:
    """dialplans/ with the main flow always open and AGENTS agents that have every skill."""
    shutil.copytree(REPO / "dialplans", target)
    yaml = YAML()
    main = yaml.load((target / "main.yaml").read_text())
    hours = main["flows"]["main"]["nodes"]["office_hours"]
    hours["weekly"] = {day: "00:00-24:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    for key in ("holidays", "closures"):
        hours.pop(key, None)
    with (target / "main.yaml").open("w") as out:
        yaml.dump(main, out)
    routing = yaml.load((target / "routing.yaml").read_text())
    skills = {s: 5 for s in routing["skills"]}
    routing["agents"] = {f"a{i}": {"name": f"Agent {i}", "endpoint": f"PJSIP/a{i}", "skills": dict(skills),
                                   "languages": ["en", "fr"]} for i in range(AGENTS)}
    routing["wrap_up"] = 0
    with (target / "routing.yaml").open("w") as out:
        yaml.dump(routing, out)
    return target


TRIVIAL = textwrap.dedent("""\
    import asyncio, logging, sys
    from switchboard.cli import _new_loop
    from switchboard.ivr.agi_server import AGIServer
    from switchboard.metrics.service_metrics import ServiceMetrics
    from prometheus_client import CollectorRegistry

    async def trivial(channel):
        await channel.answer()
        for i in range(10):
            await channel.set_variable("STEP", str(i))
        await channel.hangup()

    async def main(port):
        loop = asyncio.get_running_loop()
        server = AGIServer(loop, {"inbound": trivial}, allowed_peers=["127.0.0.1/32"], header_timeout=5,
                           command_timeout=30, events=ServiceMetrics(CollectorRegistry()),
                           logger=logging.getLogger("agi"))
        await server.start("127.0.0.1", port)
        print("ready", flush=True)
        await asyncio.Event().wait()

    loop = _new_loop()
    loop.run_until_complete(main(int(sys.argv[1])))
    """)


async def start_service(work: Path, redis_url: str, agi_port: int, http_port: int,
                        tree: Path = REPO) -> subprocess.Popen[bytes]:
    config = work / "settings.yaml"
    config.write_text(f"agi:\n  port: {agi_port}\nredis:\n  url: {redis_url}\nhttp:\n  port: {http_port}\n"
                      f"ami:\n  enabled: false\nivr:\n  dialplans: {work / 'dialplans'}\n"
                      "log:\n  level: WARNING\n")
    env = dict(os.environ, SWITCHBOARD_CTI_PEPPER="bench-pepper")
    process = subprocess.Popen([python_of(tree), "-m", "switchboard.cli", "serve", "--config", str(config)], cwd=tree,
                               env=env, stdin=subprocess.DEVNULL, stdout=(work / "service.log").open("wb"),
                               stderr=subprocess.STDOUT)
    ready = f"http://127.0.0.1:{http_port}/readyz"  # waited for off the loop: the proxy must keep serving
    await asyncio.to_thread(wait_until, lambda: http_get(ready)[0] == 200, 30, "switchboard /readyz")
    return process


async def prepare(redis_url: str) -> None:
    """Customers imported; every agent logged in and available."""
    client = Redis.from_url(redis_url)
    store = CtiStore.from_url(redis_url, 5.0)
    await store.write([CustomerRecord(Customer(id=f"c{i}", name=f"Customer {i}", segment="gold", language="en",
                                               account=f"5550{i:04d}", phones=(caller(i),)))
                       for i in range(CUSTOMERS)])
    await store.close()
    route = RouteStore(client)
    while len(await route.agents()) < AGENTS:  # the service seeds routing.yaml's agents at start
        await asyncio.sleep(0.1)
    for i in range(AGENTS):
        await route.action(f"a{i}", "login")
        await route.device(f"a{i}", "idle", 0.0)
    await client.aclose()


@dataclass
class Arm:
    """One server measured: its process, AGI port and proxy (None: no Redis), and its totals over the rounds."""

    label: str
    pid: int
    port: int
    proxy: Proxy | None
    idle_rate: float = 0.0
    cpu: float = 0.0
    seconds: float = 0.0
    calls: int = 0
    commands: int = 0
    trips: int = 0

    async def round(self, calls: int, concurrency: int, first: int) -> None:
        cpu0, trips0 = cpu_seconds(self.pid), self.proxy.trips if self.proxy else 0
        seconds, commands = await drive(self.port, calls, concurrency, "inbound", first)
        self.cpu += cpu_seconds(self.pid) - cpu0
        self.trips += (self.proxy.trips if self.proxy else 0) - trips0
        self.seconds += seconds
        self.calls += calls
        self.commands += commands

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.calls * 1000

    def report(self) -> None:
        line = (f"{self.label:<30} {self.cpu_ms:7.3f} ms CPU/call  {self.commands / self.calls:5.1f} AGI cmds/call  "
                f"{self.calls / self.seconds:7.0f} calls/s")
        if self.proxy is not None:
            path = (self.trips - self.idle_rate * self.seconds) / self.calls
            line += f"  {self.trips / self.calls:5.2f} Redis round trips/call ({path:.2f} on the call path)"
        print(line)


@dataclass
class FullService:
    """A switchboard service from a tree (this one or a baseline's) on its own Redis, behind its own proxy."""

    tree: Path
    work: Path
    redis: RedisServer | None = None
    proxy: Proxy | None = None
    process: subprocess.Popen[bytes] | None = None
    http_port: int = field(default_factory=free_port)
    agi_port: int = field(default_factory=free_port)

    async def start(self) -> None:
        self.work.mkdir(parents=True)
        dialplans(self.work / "dialplans")
        self.redis = RedisServer(self.work / "redis").start()
        self.proxy = Proxy(self.redis.port)
        await self.proxy.start()
        self.process = await start_service(self.work, f"redis://127.0.0.1:{self.proxy.port}/0", self.agi_port,
                                           self.http_port, self.tree)
        await prepare(self.redis.url)

    async def stop(self) -> None:
        if self.process is not None:  # waited for off the loop: it still talks to Redis through the proxy
            await stop_process(self.process)
        if self.redis is not None:
            self.redis.stop()


async def stop_process(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, 20)
    except subprocess.TimeoutExpired:
        process.kill()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def python_of(tree: Path) -> str:
    """The tree's own virtualenv's Python (its dependencies), else this one."""
    own = tree / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


async def main(calls: int, concurrency: int, idle: float, show: bool, profile: Path | None,
               baseline_tree: Path | None, pairs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="call-cost-") as tmp:
        work = Path(tmp)
        ours = FullService(REPO, work / "ours")
        theirs = FullService(baseline_tree.resolve(), work / "baseline") if baseline_tree is not None else None
        trivial_port = free_port()
        (work / "trivial.py").write_text(TRIVIAL)
        trivial = subprocess.Popen([sys.executable, str(work / "trivial.py"), str(trivial_port)], cwd=REPO,
                                   stdout=subprocess.PIPE)
        try:
            await ours.start()
            if theirs is not None:
                await theirs.start()
            assert trivial.stdout is not None and trivial.stdout.readline().strip() == b"ready"
            assert ours.process is not None and ours.proxy is not None
            print(f"load average {load()}; machine: {os.cpu_count()} CPUs, {Path('/proc/cpuinfo').read_text().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
            arms = [Arm("full example call", ours.process.pid, ours.agi_port, ours.proxy)]
            if theirs is not None:
                assert theirs.process is not None
                arms.append(Arm(f"full call, {baseline_tree}", theirs.process.pid, theirs.agi_port, theirs.proxy))
            arms.append(Arm("baseline (trivial AGI)", trivial.pid, trivial_port, None))
            for arm in arms:
                if arm.proxy is not None:
                    cpu0, trips0 = cpu_seconds(arm.pid), arm.proxy.trips
                    await asyncio.sleep(idle)  # background Redis work and CPU of an idle service (sweeps, snapshots)
                    arm.idle_rate = (arm.proxy.trips - trips0) / idle
                    print(f"idle {arm.label}: {(cpu_seconds(arm.pid) - cpu0) / idle * 1000:.1f} ms CPU/s, "
                          f"{arm.idle_rate:.1f} Redis round trips/s (background; subtracted below)")
                await drive(arm.port, min(200, calls), concurrency, "inbound", first=10_000_000)  # warm-up
            spy = None
            if profile is not None and shutil.which("py-spy", path=str(Path(sys.executable).parent)) is not None:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                        str(ours.process.pid), "--rate", "250", "--format", "raw", "-o", str(profile)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            per_round = max(1, calls // pairs)
            for i in range(pairs):
                for arm in arms if i % 2 == 0 else arms[::-1]:
                    await arm.round(per_round, concurrency, first=i * per_round)
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes the collapsed stacks and exits
                spy.wait(30)
            print(f"{pairs} interleaved rounds of {per_round} calls per arm, concurrency {concurrency}:")
            for arm in arms:
                arm.report()
            if show:
                print("one full call, as the fake Asterisk saw it:")
                await one_call(ours.agi_port, "1700000099.1", caller(1), "inbound", show=True)
            _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{ours.http_port}/metrics")
            decisions = [line for line in body.splitlines() if line.startswith("switchboard_route") and "_count" in line
                         or line.startswith("switchboard_routing_decision") and "_count" in line]
            print("router decisions:", "; ".join(decisions) or "(none exported)")
            print(f"load average at the end {load()}")
            full, base = arms[0], arms[-1]
            print(f"full ÷ trivial CPU per call: {full.cpu_ms / base.cpu_ms:.2f}×; "
                  f"targets: ≤ 1.0 ms CPU/call, ≤ 4 round trips on the call path")
            if theirs is not None:
                print(f"this tree ÷ {baseline_tree} CPU per full call: {full.cpu_ms / arms[1].cpu_ms:.2f}× "
                      f"({full.cpu_ms:.3f} vs {arms[1].cpu_ms:.3f} ms)")
        finally:
            await stop_process(trivial)
            for service in (ours, theirs):
                if service is not None:
                    await service.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle measurement (background work)")
    parser.add_argument("--show", action="store_true", help="print one full call's AGI dialogue")
    parser.add_argument("--profile", type=Path, help="record the service's collapsed stacks with py-spy (if installed)")
    parser.add_argument("--baseline-tree", type=Path,
                        help="another checkout (with its own .venv) whose service runs the same calls, interleaved")
    parser.add_argument("--pairs", type=int, default=1, help="interleaved rounds (--calls split across them)")
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.concurrency, args.idle, args.show, args.profile, args.baseline_tree,
                    args.pairs))
