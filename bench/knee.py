"""The knee on real Asterisk 22: the highest call rate each kind of call passes cleanly, stepped and interleaved.

Real parts only: Asterisk 22 in the sandbox chroot (tests/e2e/sandbox.py, the project's `asterisk-conf/` plus bench
agents, a bench dialplan for the trivial scenarios and a read-only observer AMI user), sipp callers and one
answering sipp agent phone (tests/e2e/sipp.py), a private redis-server, and the Switchboard service itself
(`switchboard serve` with default settings, connected to Asterisk's AMI). At each rate three scenarios run one
after the other, in an order that alternates from one rate (and Asterisk configuration) to the next, so a drift in
the machine's load, or what a step leaves behind for the next, hits all three alike:

* `trivial`        — a trivial AGI: answer, 10 SET VARIABLEs, hang up (a tiny server built from
                     `switchboard.ivr.agi_server.AGIServer`, like bench/call_cost.py's baseline); the caller waits
                     for Asterisk's BYE.
* `trivial+agent`  — the same AGI, then `EXEC Dial` to an agent (round robin over the bench agents), who answers
                     after 200 ms; the caller hangs up 4.8 s after Asterisk answered.
* `full`           — the example flow of `dialplans/` (opening hours always open) run by the service: caller-ID
                     recognition of an imported gold customer, prompts, language menu and main menu answered with
                     DTMF through SIP INFO (1 at 0.8 s, 1 at 2.3 s: English, billing), route by skills, the agent
                     answers after 200 ms; the caller hangs up 4.8 s after Asterisk answered, like
                     `trivial+agent` (about 2 s with the agent in both).

Asterisk runs tuned as the sandbox configures it: the prompts as 8 kHz µ-law files (made once by
tests/e2e/provision_asterisk.sh; format_pcm.so plays them without transcoding) and asterisk-conf/stasis.conf
declining the Stasis messages nobody reads. `--untuned` adds the same steps on Asterisk without both (no stasis.conf,
no format_pcm.so: the GSM prompts transcoded per call), in the same run: at each rate both configurations run, the
one that ran second at one rate first at the next, Asterisk restarted in between (the service, Redis, the agents'
phone and the observer stay up and reconnect).

Counted per step:
* attempted — calls sipp created (its statistics file);
* completed — from Asterisk's own events (pyst2 AMI observer, tests/chaos/observer.py): the caller channel ended
  without the dialplan fallback, and for the agent scenarios an agent answered the Dial run from the caller's own
  context (the router's, or the trivial AGI's); failed = attempted - completed, of which `fallback` went to the
  dialplan fallback (its SwitchboardFallback UserEvent); sipp's own failed-call count is shown beside it as a
  cross-check (a caller that hangs up on schedule is a success to sipp even when no agent answered);
* lookup timeouts and errors — the service's `switchboard_cti_lookups_total{result="timeout"|"error"}`: either
  way a known caller is treated as unknown (hits shown too, so one sees that recognition happened);
* CPU per completed call (ms) of Asterisk, the service, the trivial AGI server, Redis and the load generator (sipp
  and this process's observer), from /proc/PID/stat deltas over the step (arrivals plus drain); a second table
  puts Asterisk's, the service's and Redis's side by side per rate (and configuration);
* load average (1 min) when the step began: other work on the machine shows up there;
* Redis commands (a script is one) that ran over 2 ms inside Redis during the step, from its SLOWLOG, and the
  longest: a plain HSET over 2 ms means Redis's thread was off the CPU, not slow work.

Redis runs under SCHED_FIFO priority 1 (`--redis-sched fifo`, the default), as docs/redis.md "Keep Redis's latency
short" advises when Redis shares the machine with Asterisk and the service; `--redis-sched other` leaves it
time-shared. On this 2-core machine time-shared Redis is what fails first: at 75 full calls/s (30 s steps, the two
alternated twice, load average 7-12) its SLOWLOG counted 1,710-1,751 commands over 2 ms, the longest 41-43 ms (in
another run a plain HSET took 47 ms: Redis's thread off the CPU mid-command), one run lost 28 calls and another sent 10
callers to the fallback after 0.5 s Redis trips; under SCHED_FIFO 7 commands over 2 ms (longest 3.5-7.0 ms), 0 lost.

A scenario passes a rate with 0 failed calls (Asterisk's count and sipp's) and 0 caller-ID lookup timeouts or
errors; its knee (per configuration) is the highest rate up to which it passed every rate tried. After a failure
the scenario is not tried at higher rates in that configuration (`--keep-going` tries them anyway). The ratio
printed last is knee(full) / knee(trivial+agent) (target >= 0.9); when a scenario passed every rate tried, its knee
is at least the highest rate ("≥").

Asterisk uses fixed ports (SIP 5060, AMI 5038): the bench takes /tmp/switchboard-asterisk.lock itself (waiting for
it), unless `--no-lock` says the caller already holds it (e.g. `flock /tmp/switchboard-asterisk.lock python ...`).
Needs root (chroot), sipp and redis-server; SANDBOX_DIR names the cached chroot. The default run (rates 25, 50, 75,
100, 150; 12 s of arrivals per step) takes about 4 minutes, twice that with `--untuned`; a longer one, e.g. `--rates
50,100,150,200,250 --step-seconds 30`, finds the trivial scenarios' knees too. sipp sends no RTP: a bridged call
carries no media, so the prompts are the only media Asterisk streams (caveat for Asterisk's CPU per call).

    python bench/knee.py [--rates 25,50,100] [--step-seconds 12] [--scenarios full,trivial+agent] [--agents N]
                         [--untuned] [--keep-going] [--no-lock] [--json out.json] [--work DIR]
"""
from __future__ import annotations

import argparse
import fcntl
import io
import json
import math
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from asterisk.manager import Manager
from redis import Redis as SyncRedis
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.chaos.observer import AsteriskWitness, CallFacts  # noqa: E402
from tests.e2e.demo import always_open  # noqa: E402
from tests.e2e.sandbox import (AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess,  # noqa: E402
                               free_port, http_get, wait_until)
from tests.e2e.sipp import Agent, Caller, SippFactory, SippRun  # noqa: E402

LOCK = Path("/tmp/switchboard-asterisk.lock")
OBSERVER = "knee-observer"
AGENT_PORT = 5081  # the one sipp phone answering for every bench agent
AGENT_RING_MS = 200
PEPPER = "knee-pepper-not-a-secret"
CUSTOMERS = 50
CALL_MS = 4800  # from Asterisk's answer to the caller's BYE (trivial+agent and full)
DIGITS = ((800, "1"), (1500, "1"))  # full: (ms to wait, digit): English at the welcome, 1 billing at the main menu
TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("trivial", "trivial+agent", "full")
CONFIGS = ("tuned", "untuned")  # Asterisk as the sandbox configures it; without the µ-law prompts and stasis.conf
DEFAULT_RATES = "25,50,75,100,150"
DIALLED = {"trivial": "7001", "trivial+agent": "7002", "full": "2000"}
PROCESSES = ("asterisk", "service", "agi", "redis", "sipp", "observer")
SLOW_US = 2000  # a command inside Redis longer than this is counted per step (the router's "no script over 2 ms")
REDIS_SCHEDULING = ("fifo", "other")  # SCHED_FIFO priority 1, as docs/redis.md advises on a shared machine; or not


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu() -> float:
    """CPU of this process's children that have exited and been waited for (the caller sipps of finished steps)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def customer_number(i: int) -> str:
    return f"+4420794{60000 + i % CUSTOMERS:05d}"


# --- the observer ----------------------------------------------------------------------------------------------
class BufferedManager(Manager):  # type: ignore[misc]  # pyst2 has no type hints
    """pyst2's AMI client reading through a buffered socket file.

    pyst2 iterates lines of an unbuffered socket file, which is one recv() per byte: ~1 ms of CPU per event, most
    of a core at 100 calls/s on the machine under test. The file is wrapped just before pyst2's reader thread
    starts (inside its own `connect`); everything else is pyst2's.
    """

    _sock: io.RawIOBase | io.BufferedRWPair  # pyst2's socket file (a socket.SocketIO once connected)

    def connect(self, host: str, port: int = 5038) -> object:
        start_reader = self.message_thread.start

        def start_buffered() -> None:
            raw = self._sock
            assert isinstance(raw, io.RawIOBase)
            self._sock = io.BufferedRWPair(raw, raw, 1 << 16)
            start_reader()
        self.message_thread.start = start_buffered
        return super().connect(host, port)


class KneeWitness(AsteriskWitness):
    """The chaos suite's witness of Asterisk's events, on the buffered client."""

    manager_type = BufferedManager

    def connected(self) -> bool:
        """Logged in to the running Asterisk (after a restart: once its reconnect loop is through)."""
        manager = self._manager
        return manager is not None and bool(manager.connected())


# --- the trivial AGI server (scenarios trivial and trivial+agent) ----------------------------------------------
TRIVIAL = textwrap.dedent("""\
    import asyncio, itertools, logging, sys
    from switchboard.cli import _new_loop
    from switchboard.ivr.agi_server import AGIServer
    from switchboard.ivr.channel import CallerHungUp
    from switchboard.metrics.service_metrics import ServiceMetrics
    from prometheus_client import CollectorRegistry

    AGENTS = itertools.cycle(range(int(sys.argv[2])))

    async def trivial(channel):
        await channel.answer()
        for i in range(10):
            await channel.set_variable("STEP", str(i))
        await channel.hangup()

    async def trivial_dial(channel):
        await channel.answer()
        for i in range(10):
            await channel.set_variable("STEP", str(i))
        try:
            await channel.exec("Dial", f"PJSIP/knee{next(AGENTS)}", "30")
            await channel.hangup()
        except CallerHungUp:
            pass  # the caller hung up during the Dial, as the scenario has it

    async def main(port):
        loop = asyncio.get_running_loop()
        server = AGIServer(loop, {"trivial": trivial, "trivial-dial": trivial_dial}, allowed_peers=["127.0.0.1/32"],
                           header_timeout=5, command_timeout=60, events=ServiceMetrics(CollectorRegistry()),
                           logger=logging.getLogger("agi"))
        await server.start("127.0.0.1", port)
        print("ready", flush=True)
        await asyncio.Event().wait()

    loop = _new_loop()
    loop.run_until_complete(main(int(sys.argv[1])))
    """)


# --- Asterisk with the bench's additions -----------------------------------------------------------------------
@dataclass
class KneeAsterisk(AsteriskSandbox):
    """The sandbox plus: `agents` agent endpoints (knee0...) answered by one sipp phone, extensions 7001/7002 in
    [from-callers] running the trivial AGI server, and a read-only AMI user for the observer. Untuned: without
    stasis.conf and format_pcm.so (so the .gsm prompts play, transcoded), as Asterisk was before that tuning."""

    agents: int = 100
    trivial_port: int = 4574
    observer_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    tuned: bool = True

    def _write_config(self) -> None:
        super()._write_config()
        etc = self.outer / "etc"
        if not self.tuned:
            (etc / "stasis.conf").unlink()
            modules = etc / "modules.conf"
            kept = [line for line in modules.read_text().splitlines(keepends=True) if "format_pcm.so" not in line]
            modules.write_text("".join(kept))
        manager = etc / "manager.conf"
        watched = ("Newchannel", "Hangup", "DialBegin", "DialEnd", "MusicOnHoldStart", "MusicOnHoldStop",
                   "UserEvent", "Shutdown")
        manager.write_text(manager.read_text() + f"\n[{OBSERVER}]\nsecret={self.observer_secret}\n"
                           "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\nwritetimeout=5000\n"
                           "read=system,call,user\nwrite=\n"
                           + "".join(f"eventfilter(action(include),name({name})) =\n" for name in watched))
        pjsip = etc / "pjsip.conf"
        pjsip.write_text(pjsip.read_text() + "\n; the knee bench's agents: one sipp phone answers for all\n" + "".join(
            f"[knee{i}](switchboard-agent)\naors=knee{i}\n[knee{i}]\ntype=aor\n"
            f"contact=sip:knee{i}@127.0.0.1:{AGENT_PORT}\n" for i in range(self.agents)))
        extensions = etc / "extensions.conf"
        agi = f"agi://127.0.0.1:{self.trivial_port}"
        extensions.write_text(extensions.read_text() + textwrap.dedent(f"""
            ; the knee bench's trivial scenarios (exact extensions win over the inbound pattern)
            [from-callers](+)
            exten => {DIALLED['trivial']},1,AGI({agi}/trivial)
             same => n,Goto(knee-agi-end,s,1)
            exten => {DIALLED['trivial+agent']},1,AGI({agi}/trivial-dial)
             same => n,Goto(knee-agi-end,s,1)

            [knee-agi-end]
            ; an AGI that failed (e.g. FastAGI connect timed out) is counted like the real dialplan's fallback
            exten => s,1,GotoIf($["${{AGISTATUS}}" = "FAILURE"]?failed)
             same => n,Hangup()
             same => n(failed),UserEvent(SwitchboardFallback,Reason: agi-${{AGISTATUS}})
             same => n,Hangup()
            """))
        conf = etc / "asterisk.conf"
        conf.write_text(conf.read_text() + "maxfiles = 20000\n")


# --- one step ---------------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One scenario at one rate: the counts and CPU per completed call (ms) of each process."""

    scenario: str
    rate: float
    load1: float
    asterisk: str = "tuned"  # the configuration (CONFIGS)
    attempted: int = 0
    completed: int = 0
    failed: int = 0
    sipp_failed: int = 0
    lookup_hits: int = 0
    lookup_timeouts: int = 0
    lookup_errors: int = 0  # the store did not answer (e.g. no pooled connection in time): not recognised either
    fallbacks: int = 0
    why: dict[str, int] = field(default_factory=dict)  # the failed calls by what Asterisk saw of them
    seconds: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    redis_slow: int = 0  # commands (a script counts as one) that ran over SLOW_US inside Redis during the step
    redis_longest_ms: float = 0.0  # the longest of them, and its command
    redis_longest: str = ""

    @property
    def passed(self) -> bool:
        return (self.attempted > 0 and self.failed == 0 and self.sipp_failed == 0 and self.lookup_timeouts == 0
                and self.lookup_errors == 0)


@dataclass
class Rig:
    """The running parts of the bench."""

    asterisk: KneeAsterisk
    redis: RedisServer
    service: SwitchboardProcess
    trivial: subprocess.Popen[bytes]
    agents_sipp: SippRun
    witness: KneeWitness
    sipp: SippFactory

    def pids(self) -> dict[str, int]:
        assert self.asterisk.process and self.service.process and self.redis.process
        return {"asterisk": self.asterisk.process.pid, "service": self.service.process.pid,
                "agi": self.trivial.pid, "redis": self.redis.process.pid}

    def cpu(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        out["sipp"] = children_cpu() + cpu_seconds(self.agents_sipp.process.pid)
        out["observer"] = cpu_seconds(os.getpid())  # this process: the pyst2 observer's threads, mostly
        return out

    def slowlog_reset(self) -> None:
        """Redis's SLOWLOG from now on keeps every command over SLOW_US (wall time inside Redis)."""
        self.redis.command("CONFIG", "SET", "slowlog-log-slower-than", str(SLOW_US))
        self.redis.command("CONFIG", "SET", "slowlog-max-len", "10000")
        self.redis.command("SLOWLOG", "RESET")

    def slowlog(self) -> tuple[int, float, str]:
        """How many commands ran over SLOW_US since `slowlog_reset`, the longest (ms) and its command."""
        with SyncRedis.from_url(self.redis.url) as client:
            entries = client.slowlog_get(10000)
        if not entries:
            return 0, 0.0, ""
        worst = max(entries, key=lambda e: e["duration"])
        command = worst["command"]
        name = (command.decode(errors="replace") if isinstance(command, bytes) else str(command)).split(" ")[0]
        return len(entries), worst["duration"] / 1000, name

    def lookups(self) -> dict[str, float]:
        _, body = http_get(self.service.metrics_url, timeout=10)
        out = {"hit": 0.0, "timeout": 0.0, "error": 0.0}
        for line in body.splitlines():
            if line.startswith("switchboard_cti_lookups_total{"):
                result = line.split('result="', 1)[1].split('"', 1)[0]
                if result in out:
                    out[result] = float(line.rsplit(" ", 1)[1])
        return out

    def configure_asterisk(self, tuned: bool) -> None:
        """Restarts Asterisk tuned or untuned (nothing when it runs so already); returns once the service's AMI
        link, the observer and the agents available before are back (a failed step may have left some reserved
        until their ring times out: not waited for)."""
        if self.asterisk.tuned == tuned:
            return
        print(f"restarting Asterisk {'tuned' if tuned else 'untuned'} ...", flush=True)
        available = agents_available(self.service)
        reconnects = self.service.metric("switchboard_ami_reconnects_total")
        dropped = len(self.witness.disconnects)
        self.asterisk.stop()
        self.asterisk.tuned = tuned
        self.asterisk.start()
        wait_until(lambda: (self.service.metric("switchboard_ami_reconnects_total") > reconnects
                            and self.service.metric("switchboard_ami_connected") == 1), 60,
                   "the service's AMI link back", interval=0.2)
        wait_until(lambda: len(self.witness.disconnects) > dropped and self.witness.connected(), 30,
                   "the observer back", interval=0.2)
        wait_until(lambda: agents_available(self.service) >= available, 60, f"{available} agents available again",
                   interval=0.5)

    def full_call_path(self) -> str:
        """The flow path of one full call, from its call-context record in Redis (shows the menus were walked)."""
        keys = self.redis.command("--scan", "--pattern", "sb:call:*").split()
        return self.redis.command("hget", keys[-1], "path").strip() if keys else "(no call record)"


def completed(call: CallFacts, scenario: str) -> bool:
    """Asterisk's verdict on one caller channel: ended, no fallback, and (with an agent) an agent answered."""
    if call.ended is None or call.cut or call.fallback_reason or call.fallback_agent:
        return False
    return scenario == "trivial" or bool(call.router_agent)


def why_failed(call: CallFacts) -> str:
    """What Asterisk saw of a call that did not complete."""
    if call.ended is None:
        return "still up"
    if call.cut:
        return "cut"
    if call.fallback_reason or call.fallback_agent:
        return f"fallback {call.fallback_reason or 'agent'}"
    return "no agent answered"


def caller_for(scenario: str) -> Caller:
    if scenario == "trivial":
        return Caller(dialled=DIALLED[scenario], hangup_after_ms=None)
    if scenario == "trivial+agent":
        return Caller(dialled=DIALLED[scenario], hangup_after_ms=CALL_MS)
    return Caller(dialled=DIALLED[scenario], digits=DIGITS, hangup_after_ms=CALL_MS - sum(ms for ms, _ in DIGITS))


def run_step(rig: Rig, scenario: str, rate: float, step_seconds: float, drain_timeout: float) -> Step:
    calls = max(1, round(rate * step_seconds))
    step = Step(scenario, rate, os.getloadavg()[0], "tuned" if rig.asterisk.tuned else "untuned")
    before = set(dict(rig.witness.calls))  # one C-level copy under the GIL while the observer's thread adds
    lookups0 = rig.lookups()
    rig.slowlog_reset()
    cpu0 = rig.cpu()
    started = time.monotonic()
    numbers = [customer_number(i) for i in range(calls)]
    caller = rig.sipp.load(caller_for(scenario), calls, rate, numbers,
                           timeout_s=int(step_seconds + CALL_MS / 1000 + drain_timeout + 30))
    try:
        caller.wait(step_seconds + CALL_MS / 1000 + drain_timeout + 60)
    except subprocess.TimeoutExpired:
        caller.stop()
    # sipp is done; Asterisk may still be tearing channels down: wait (on the observer's condition) for none left
    if not rig.witness.wait_for(lambda: rig.witness.live_callers() == 0, drain_timeout):
        print(f"   ({rig.witness.live_callers()} caller channels still up after {drain_timeout:.0f}s: hung up)",
              flush=True)
        rig.asterisk.quiesce()
    step.seconds = time.monotonic() - started
    cpu1 = rig.cpu()
    step.redis_slow, step.redis_longest_ms, step.redis_longest = rig.slowlog()
    lookups1 = rig.lookups()
    mine = [c for uid, c in dict(rig.witness.calls).items() if uid not in before]
    stats = caller.statistics()
    step.attempted = int(stats.get("TotalCallCreated", len(mine)) or len(mine))
    step.sipp_failed = int(stats.get("FailedCall(C)", 0) or 0)
    step.completed = sum(1 for c in mine if completed(c, scenario))
    step.failed = step.attempted - step.completed
    step.fallbacks = sum(1 for c in mine if c.fallback_reason)
    for call in mine:
        if not completed(call, scenario):
            reason = why_failed(call)
            step.why[reason] = step.why.get(reason, 0) + 1
    if step.attempted > len(mine):
        step.why["no channel in Asterisk"] = step.attempted - len(mine)
    step.lookup_hits = round(lookups1["hit"] - lookups0["hit"])
    step.lookup_timeouts = round(lookups1["timeout"] - lookups0["timeout"])
    step.lookup_errors = round(lookups1["error"] - lookups0["error"])
    per = max(step.completed, 1)
    step.cpu_ms = {name: (cpu1[name] - cpu0[name]) / per * 1000 for name in PROCESSES}
    return step


# --- setting it up ----------------------------------------------------------------------------------------------
def write_dialplans(target: Path, agents: int) -> Path:
    """dialplans/ with the main flow always open and `agents` agents (every skill, level 5, en and fr)."""
    always_open(REPO / "dialplans", target)
    yaml = YAML()
    path = target / "routing.yaml"
    routing = yaml.load(path.read_text())
    skills = {skill: 5 for skill in routing["skills"]}
    # one line per agent (flow style): 800 agents stay well inside the reader's 128 KiB limit
    routing["agents"] = CommentedMap()
    for i in range(agents):
        agent = CommentedMap(name=f"Agent {i}", endpoint=f"PJSIP/knee{i}", skills=dict(skills), languages=["en", "fr"])
        agent.fa.set_flow_style()
        routing["agents"][f"knee{i}"] = agent
    routing["wrap_up"] = 0
    yaml.width = 4096
    with path.open("w") as out:
        yaml.dump(routing, out)
    return target


def agents_available(service: SwitchboardProcess) -> int:
    """How many agents the service's router has available."""
    _, body = http_get(f"http://127.0.0.1:{service.http_port}/agents", timeout=10)
    return sum(1 for a in json.loads(body) if a["state"] == "available")


def log_in_agents(service: SwitchboardProcess, agents: int) -> None:
    for i in range(agents):
        status, body = service.post(f"/agents/knee{i}/login")
        if status != 200:
            raise SandboxError(f"logging knee{i} in: HTTP {status} {body}")
    wait_until(lambda: agents_available(service) >= agents, 60, f"{agents} agents available", interval=0.5)


@contextmanager
def asterisk_lock(use: bool) -> Iterator[None]:
    """Holds the machine-wide lock of the fixed Asterisk ports while the bench runs."""
    if not use:
        yield
        return
    with LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK} (another run uses Asterisk's ports) ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def schedule_redis(redis: RedisServer, policy: str) -> None:
    """Every thread of the bench's redis-server under SCHED_FIFO priority 1 (`chrt -a -f -p 1 PID`), as
    docs/redis.md "Keep Redis's latency short" advises when Redis shares the machine with Asterisk and the service;
    "other" leaves it time-shared."""
    if policy == "other":
        return
    assert redis.process is not None
    for task in Path(f"/proc/{redis.process.pid}/task").iterdir():
        os.sched_setscheduler(int(task.name), os.SCHED_FIFO, os.sched_param(1))


def start_rig(work: Path, agents: int, stack: list[object], tuned: bool = True, redis_sched: str = "fifo") -> Rig:
    """Starts every part (Asterisk tuned or not); each is appended to `stack` as soon as it runs, so `stop_rig`
    stops what started."""
    redis = RedisServer(work / "redis")
    stack.append(redis)
    redis.start()
    schedule_redis(redis, redis_sched)
    trivial_port = free_port()
    asterisk = KneeAsterisk(name="knee", agi_url="agi://127.0.0.1:4573", agents=agents, trivial_port=trivial_port,
                            tuned=tuned)
    stack.append(asterisk)
    print("starting Asterisk 22 (chroot sandbox) ...", flush=True)
    asterisk.start()
    (work / "trivial_agi.py").write_text(TRIVIAL)
    trivial = subprocess.Popen([sys.executable, str(work / "trivial_agi.py"), str(trivial_port), str(agents)],
                               cwd=REPO, stdout=subprocess.PIPE)
    stack.append(trivial)
    assert trivial.stdout is not None
    if trivial.stdout.readline().strip() != b"ready":
        raise SandboxError("the trivial AGI server did not start")
    print("starting Switchboard ...", flush=True)
    dialplans = write_dialplans(work / "dialplans", agents)
    service = SwitchboardProcess(work / "service", redis.url, asterisk.ami_secret,
                                 extra_env={"SWITCHBOARD_CTI_PEPPER": PEPPER},
                                 extra_settings=f"ivr:\n  dialplans: {dialplans}\n")
    stack.append(service)
    service.start(60)
    imported = service.import_customers(
        [{"id": f"knee-c{i}", "name": f"Customer {i}", "phones": [customer_number(i)], "segment": "gold",
          "account": f"5550{i:04d}"} for i in range(CUSTOMERS)])
    if imported.returncode != 0:
        raise SandboxError(f"customers import failed: {imported.stderr}")
    sipp = SippFactory(work / "sipp")
    stack.append(sipp)
    agents_sipp = sipp.agent(Agent("knee-agents", AGENT_PORT, ring_ms=AGENT_RING_MS), calls=10**7)
    print(f"logging {agents} agents in ...", flush=True)
    log_in_agents(service, agents)
    witness = KneeWitness(asterisk.observer_secret, OBSERVER)
    stack.append(witness)
    return Rig(asterisk, redis, service, trivial, agents_sipp, witness, sipp)


def stop_rig(stack: list[object]) -> None:
    for part in reversed(stack):
        try:
            if isinstance(part, SippFactory):
                part.stop_all()
            elif isinstance(part, AsteriskWitness):
                part.close()
            elif isinstance(part, subprocess.Popen):
                part.terminate()
                part.wait(10)
            elif isinstance(part, (SwitchboardProcess, AsteriskSandbox, RedisServer)):
                part.stop()
        except (OSError, subprocess.SubprocessError, SandboxError) as exc:
            print(f"stopping {type(part).__name__}: {exc}", file=sys.stderr)


# --- the order of the steps ------------------------------------------------------------------------------------
def plan(rates: list[float], scenarios: list[str], configs: list[str]) -> list[tuple[float, str, list[str]]]:
    """(rate, Asterisk configuration, scenarios in the order run) blocks, every configuration at every rate.

    The configuration that ran second at one rate runs first at the next (so Asterisk restarts once per rate and
    neither is always the fresh one), and the scenarios' order reverses from one block to the next (so none always
    follows the same one or always runs first).
    """
    blocks: list[tuple[float, str, list[str]]] = []
    order = list(configs)
    for rate in rates:
        for config in order:
            blocks.append((rate, config, list(scenarios) if len(blocks) % 2 == 0 else list(reversed(scenarios))))
        order.reverse()
    return blocks


# --- the report ----------------------------------------------------------------------------------------------------
def knee(steps: list[Step], scenario: str, config: str = "tuned") -> tuple[float, bool]:
    """(the highest rate up to which every rate tried passed, whether every rate tried passed), in one
    configuration."""
    best = 0.0
    mine = sorted((s for s in steps if s.scenario == scenario and s.asterisk == config), key=lambda s: s.rate)
    for s in mine:
        if not s.passed:
            return best, False
        best = s.rate
    return best, True


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)


def table(steps: list[Step]) -> str:
    head = ("rate/s", "asterisk", "scenario", "load1", "attempted", "completed", "failed", "fallback", "sipp failed",
            "lookup hit", "lookup timeout", "lookup error", *PROCESSES, f"redis >{SLOW_US // 1000}ms", "longest ms",
            "verdict")
    rows: list[tuple[str, ...]] = [head]
    for s in steps:
        rows.append((f"{s.rate:g}", s.asterisk, s.scenario, f"{s.load1:.1f}", str(s.attempted), str(s.completed),
                     str(s.failed), str(s.fallbacks), str(s.sipp_failed), str(s.lookup_hits), str(s.lookup_timeouts),
                     str(s.lookup_errors),
                     *(f"{s.cpu_ms.get(p, 0.0):.2f}" for p in PROCESSES), str(s.redis_slow),
                     f"{s.redis_longest_ms:.1f}", "pass" if s.passed else "FAIL"))
    return _columns(rows)


def cpu_table(steps: list[Step]) -> str:
    """CPU ms per completed call of Asterisk / the service / Redis, one row per rate, one column per scenario and
    configuration (a failed step's numbers in brackets)."""
    kinds = [(sc, cf) for sc in SCENARIOS for cf in CONFIGS if any(s.scenario == sc and s.asterisk == cf
                                                                  for s in steps)]
    rows: list[tuple[str, ...]] = [("rate/s", *(f"{sc} {cf}" for sc, cf in kinds))]
    for rate in sorted({s.rate for s in steps}):
        cells = []
        for sc, cf in kinds:
            step = next((s for s in steps if s.rate == rate and s.scenario == sc and s.asterisk == cf), None)
            if step is None:
                cells.append("-")
                continue
            cell = "/".join(f"{step.cpu_ms.get(p, 0.0):.2f}" for p in ("asterisk", "service", "redis"))
            cells.append(cell if step.passed else f"({cell})")
        rows.append((f"{rate:g}", *cells))
    return _columns(rows)


def tuning_gain(steps: list[Step]) -> str:
    """Asterisk's CPU per call untuned ÷ tuned, per scenario at each rate where both ran."""
    lines = []
    for scenario in SCENARIOS:
        pairs = []
        for rate in sorted({s.rate for s in steps}):
            by = {s.asterisk: s for s in steps if s.rate == rate and s.scenario == scenario}
            if "tuned" in by and "untuned" in by and by["tuned"].cpu_ms.get("asterisk"):
                tuned, untuned = by["tuned"].cpu_ms["asterisk"], by["untuned"].cpu_ms.get("asterisk", 0.0)
                pairs.append(f"{rate:g}/s {tuned:.2f} vs {untuned:.2f} ms ({untuned / tuned:.2f}×)")
        if pairs:
            lines.append(f"Asterisk CPU per call, tuned vs untuned, {scenario}: " + "; ".join(pairs))
    return "\n".join(lines)


def summary(steps: list[Step]) -> str:
    lines = []
    for config in CONFIGS:
        knees = {}
        for scenario in SCENARIOS:
            if not any(s.scenario == scenario and s.asterisk == config for s in steps):
                continue
            rate, all_passed = knee(steps, scenario, config)
            knees[scenario] = (rate, all_passed)
            lines.append(f"knee {scenario:<14} {config:<8} {'≥ ' if all_passed else ''}{rate:g} calls/s"
                         + ("  (passed every rate tried)" if all_passed else ""))
        if "full" not in knees or "trivial+agent" not in knees:
            continue
        full, agent = knees["full"], knees["trivial+agent"]
        if agent[0] > 0:
            bound = " (a knee marked ≥ was not reached: a bound, not a ratio)" if full[1] or agent[1] else ""
            lines.append(f"full ÷ trivial-with-agent at the knee, {config}: {full[0] / agent[0]:.2f}  "
                         f"(target ≥ 0.9){bound}")
        else:
            lines.append(f"full ÷ trivial-with-agent, {config}: trivial+agent passed no rate")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=DEFAULT_RATES, help=f"call rates to step through, calls/s ({DEFAULT_RATES})")
    parser.add_argument("--step-seconds", type=float, default=12.0, help="seconds of arrivals per step (default 12)")
    parser.add_argument("--agents", type=int, default=0,
                        help="bench agents (default: 4 × the highest rate, at least 20: none has to wait)")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="seconds to wait for Asterisk to end a step's calls once sipp is done (default 30)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"which scenarios (default {','.join(SCENARIOS)}); the order alternates per block")
    parser.add_argument("--untuned", action="store_true",
                        help="also run every step on Asterisk without the µ-law prompts and stasis.conf")
    parser.add_argument("--redis-sched", choices=REDIS_SCHEDULING, default="fifo",
                        help="fifo (default): Redis under SCHED_FIFO priority 1, as docs/redis.md advises when it shares "
                             "the machine; other: time-shared like everything else")
    parser.add_argument("--keep-going", action="store_true", help="try a scenario at higher rates after it fails")
    parser.add_argument("--no-lock", action="store_true",
                        help=f"do not take {LOCK} (the caller holds it, e.g. under `flock {LOCK} ...`)")
    parser.add_argument("--json", type=Path, help="also write the steps as JSON here")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one, kept)")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if unknown := [name for name in scenarios if name not in SCENARIOS]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    configs = list(CONFIGS) if args.untuned else ["tuned"]
    agents = args.agents or max(20, math.ceil(max(rates) * 4))
    work = args.work or Path(tempfile.mkdtemp(prefix="switchboard-knee-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"knee: rates {', '.join(f'{r:g}' for r in rates)} calls/s, {args.step_seconds:g} s per step, "
          f"{agents} agents, Asterisk {' and '.join(configs)}, Redis scheduled {args.redis_sched}; workspace {work}",
          flush=True)
    steps: list[Step] = []
    stack: list[object] = []
    path, broken = "", ""
    blocks = plan(rates, scenarios, configs)
    started = time.monotonic()
    with asterisk_lock(not args.no_lock):
        try:
            rig = start_rig(work, agents, stack, tuned=blocks[0][1] == "tuned", redis_sched=args.redis_sched)
            failed: set[tuple[str, str]] = set()
            for rate, config, order in blocks:
                todo = [sc for sc in order if (config, sc) not in failed or args.keep_going]
                if not todo:
                    continue
                rig.configure_asterisk(config == "tuned")
                for scenario in todo:
                    step = run_step(rig, scenario, rate, args.step_seconds, args.drain_timeout)
                    steps.append(step)
                    print(f"  {rate:g}/s {config:<7} {scenario:<14} attempted {step.attempted} "
                          f"completed {step.completed} failed {step.failed} (fallback {step.fallbacks}, "
                          f"sipp {step.sipp_failed}) lookup timeouts {step.lookup_timeouts} "
                          f"errors {step.lookup_errors} redis >{SLOW_US // 1000} ms {step.redis_slow} "
                          f"(longest {step.redis_longest_ms:.1f} ms {step.redis_longest}) "
                          f"[{step.seconds:.0f} s, load {step.load1:.1f}]"
                          + (f" failed: {', '.join(f'{k} {v}' for k, v in sorted(step.why.items()))}"
                             if step.why else ""), flush=True)
                    if not step.passed:
                        failed.add((config, scenario))
            if any(step.scenario == "full" for step in steps):
                path = rig.full_call_path()
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            broken = f"{type(exc).__name__}: {exc}"
        finally:
            stop_rig(stack)
    machine = Path("/proc/cpuinfo").read_text().split("model name")[1].split(":")[1].splitlines()[0].strip()
    load = os.getloadavg()
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    print(f"\nmachine: {os.cpu_count()} CPUs, {machine}; load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"(other work on this machine counts in it); code {commit}; {time.monotonic() - started:.0f} s")
    print("asterisk: tuned = the sandbox's configuration (µ-law prompts, stasis.conf), untuned = without both; "
          "completed/failed/fallback (of the failed, sent to the dialplan fallback): Asterisk's own AMI events "
          "(pyst2 observer); sipp failed: sipp's statistics; lookups: "
          "the service's switchboard_cti_lookups_total;\nthen CPU ms per completed call from "
          "/proc/PID/stat over the step (agi = the trivial AGI server, observer = this process); redis >2ms: "
          "commands (a script is one) that ran over 2 ms inside Redis (its SLOWLOG), and the longest\n")
    print(table(steps))
    for step in steps:
        if step.why:
            print(f"failed at {step.rate:g}/s, {step.asterisk}, {step.scenario}: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(step.why.items())))
    print("\nCPU ms per completed call, Asterisk / service / Redis (a failed step in brackets):")
    print(cpu_table(steps))
    if gain := tuning_gain(steps):
        print(gain)
    print()
    print(summary(steps))
    if path:
        print(f"one full call's path (its call record): {path}")
    if broken:
        print(f"\nthe bench stopped early: {broken}")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(s), "passed": s.passed} for s in steps], indent=1))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
