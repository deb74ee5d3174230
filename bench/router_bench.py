"""Routing decision latency at 10 to 10,000 agents × 1 to 200 skills with 1,000 calls waiting that agents CAN serve.

The pool of each case (one private redis-server, one case after another):

* agents have 1-3 skills and 1-2 languages; half are *seniors* (levels 6-10) who are on a call, half are *juniors*
  (levels 1-5) who are free; a second connection keeps pausing and resuming juniors (churn; every resume is a
  freed agent looking through the waiting lines of its skills);
* 1,000 calls wait (mixed segments: three priorities and aging rates; mixed ages up to 10 minutes), each asking a
  skill, level (6-10) and often a language that some senior has: juniors cannot serve them, seniors can. Half ask
  the busiest skill (s0, which a quarter of the seniors have), so a freed senior has many calls it can serve.

Cases, each measured as p50/p99 in µs including the Redis round trip (one FCALL from this process):

* `new/free`     a new call some free junior fits (agent surplus: the pick among free agents);
* `new/none`     a new call no free agent fits (it goes into line: the search finds nobody);
* `new/multi`    a new call asking two skills some free junior has, the busiest first (agents having only the first
                 are passed over or the rarer skill's free agents are read instead: docs/router-indexes.md);
* `freed/many`   a senior with the busiest skill ends a call while the 1,000 calls wait (call surplus: the pick among the calls it can
                 serve; the table shows how many it could serve, median over the checked sample);
* `relax/100`    a relaxation step (levels down to 1) comes due for 100 more calls at once (every 10th round):
                 8 seniors freed one after another while the 100 are due and not yet indexed again (`relax/free1`),
                 8 runs of the sweep script that indexes due calls again (5 per run; the router runs it again at
                 once while more are due: `relax/sweep`), then the retries (one per ticket) that give them to
                 juniors (`relax/retry`; only the retries that search: the churn's freed juniors take some first).

For each case the table also gives `looked`: the most candidates the Lua read in one decision (from the
decisions' explanations: agents for a new call, calls for a freed agent), which says what the script touches.
Beside: a PING round trip on the same connection in the same run (the ratio p99/PING p50), the longest script run
Redis's SLOWLOG saw while the case was measured (which script, its first arguments) and how many runs took over
2 ms, per script the p50/p99/max inside Redis and the Redis commands each run issued (p50/p99/max: what a run
touches, whatever the machine's load; the benchmark's scripts count their `redis.call`s), the load average, and
the agreement with a brute-force check (router.decision
best_agent / best_call over every agent or waiting call, read with churn paused) on a sample of each case.
After the table: log-log slopes of p50 against agents (at each skill count) and against waiting calls (10,000
agents, 200 skills, 100 to 10,000 waiting), and the CPU a CallRouter holding 10,000 waiting tickets costs
(this process + redis-server, % of one core, while nothing else happens).

Beside each case: n (samples), p50÷PING and p99÷PING (against the PING sent before every timed decision, on the
same connection), and the scheduler's part: the median CPU-wait of Redis's main thread (runnable, not running:
/proc/<pid>/schedstat) and the steal time of its core (/proc/stat) per measuring round, over the rounds holding the
case's slowest 1 %; per row, the same for the rounds with a script over 2 ms or a decision over 2 ms against the
other rounds, so a slow round can be told apart: the scheduler, or the script. Per timed decision, the Redis
commands its one script run issued (p50/max).

`--pin` gives Redis a core and the bench the other; `--rt` puts both under SCHED_FIFO priority 1 (root or
CAP_SYS_NICE; it says so when in effect and exits when not permitted): on a shared machine the tail is otherwise
Redis waiting for a CPU (docs/redis.md "Keep Redis's latency short").

SLOWLOG times a script on the wall clock, so on a VM it also counts the time the hypervisor took Redis's vCPU away
(steal). Every SLOWLOG run over 2 ms is listed with its body's time by Redis's TIME (the rest of the FCALL is
Redis's set-up and its Lua GC step every 50 runs), its command count and the Lua heap before and after its body (a
garbage-collection cycle ending inside it), and per row the share of runs a GC cycle ended in and the live Lua heap
of Redis's two Lua states (functions and EVAL) after a full collection at the row's end. With `--pin
--redis-cpu`, bench/redis_cpu_meter.c (compiled with cc) also reads the CPU time of Redis's main thread every 500 µs
from its core (the kernel leaves reported steal out of it): a run over 2 ms on the wall clock but under 2 ms of CPU was
the core taken away, not the script's work (docs/router-indexes.md "Where the runs over 2 ms come from").

    python bench/router_bench.py [--quick] [--only 10000,200,1000] [--pin] [--rt] [--redis-cpu]
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import math
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import gc
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterable

import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.router.call_router import CallRouter, index_skill, levels_by_skill  # noqa: E402
from switchboard.router.decision import AgentView, CallView, best_agent, best_call  # noqa: E402
from switchboard.router import route_store  # noqa: E402
from switchboard.router.decision import encode_skills  # noqa: E402
from switchboard.redislane.function_library import FunctionLibrary  # noqa: E402
from switchboard.router.route_store import P, SWEEP_BATCH, RouteStore, lua_source  # noqa: E402
from switchboard.router.routing_config import AgentSeed, RelaxStep, RoutingConfig, Segment  # noqa: E402
from tests.e2e.sandbox import RedisServer  # noqa: E402

SEGMENTS = ((10.0, 0.5), (50.0, 1.0), (100.0, 0.0))  # (priority, aging): three aging rates
RELAX = (RelaxStep(2, min_level=1),)
CASES = ("new/free", "new/none", "new/multi", "freed/many", "relax/free1", "relax/retry", "relax/sweep")
RELAX_EVERY = 10  # a relaxation round every this many measuring rounds
RELAX_FREED = 8  # per relaxation round: seniors freed while the 100 are due, and sweep runs (30 rounds: 240 samples)
RELAX_CHECKED = 2  # per checked relaxation round (each re-reads every waiting call for the brute force)
LOOKED = re.compile(r"\((\d+) looked at|of (\d+) waiting looked at")


WORK_KEY = P + "bench:work"
GC_FELL_KB = 100  # a run whose Lua heap fell by more than this ended a garbage-collection cycle (it swept)


def counted_library(names: Iterable[str] = route_store.SCRIPTS + route_store.CALLBACK_SCRIPTS) -> FunctionLibrary:
    """The router's library (route_store.build_library: the same prelude and bodies) with every `redis.call`
    counted: each run appends "<script> <commands> <per command> <ARGV[1]> <ARGV[2]> <start µs> <end µs> <Lua KB at
    start> <Lua KB at end>" (tab-separated) to WORK_KEY (the arguments tell the timed decisions' runs apart; start
    and end are Redis's TIME, uncounted, around the script's body, to lay each run beside the CPU time Redis really
    had: RedisCpu; the Lua heap before and after shows a garbage-collection cycle ending inside the run). The count
    says what a run touches whatever the machine's load (the SLOWLOG's times include the core being taken away).
    The counting `redis` is a library-level local made once at load, which the prelude's functions see; loading
    reaches only a `redis` of its own (register_function, no `call`) and no metatable, so each run takes the real
    one (the global, read at run time) and resets the counts."""
    shadow = ("local function global_redis() return redis end\nlocal real_redis = nil\n"
              "local work, work_by = 0, {}\nlocal redis = {register_function = "
              "redis.register_function, call = function(name, ...) work = work + 1; work_by[name] = "
              "(work_by[name] or 0) + 1; return real_redis.call(name, ...) end}\n"
              "local function work_text() local out = {} for n, c in pairs(work_by) do out[#out + 1] = n .. '=' .. c "
              "end return table.concat(out, ',') end\n")
    head = f"local P = '{route_store.PREFIX}'\n" + shadow + lua_source("prelude")

    def counted(name: str, body: str) -> str:
        return ("real_redis, work, work_by = global_redis(), 0, {}\nlocal bench_t0 = real_redis.call('TIME')\n"
                "local bench_kb0 = collectgarbage('count')\n"
                "local function bench_body()\n" + body + "\nend\nlocal bench_out = bench_body()\n"
                f"local bench_t1 = real_redis.call('TIME')\n"
                f"real_redis.call('RPUSH', '{WORK_KEY}', table.concat({{'{name}', work, work_text(), ARGV[1] or '', "
                f"ARGV[2] or '', bench_t0[1] .. string.format('%06d', bench_t0[2]), "
                f"bench_t1[1] .. string.format('%06d', bench_t1[2]), string.format('%d', bench_kb0), "
                f"string.format('%d', collectgarbage('count'))}}, '\\t'))\nreturn bench_out")
    return FunctionLibrary(route_store.LIBRARY, head, {name: lua_source(name) for name in names},
                           route_store.READ_ONLY, counted)


route_store.build_library = counted_library  # every RouteStore of this benchmark runs the counted library
HEAP_PROBE = FunctionLibrary("bench_heap", "", {"heap": "collectgarbage('collect')\nreturn collectgarbage('count')"})
HEAP_EVAL = "collectgarbage('collect') return collectgarbage('count')"


async def lua_heaps(redis: Redis) -> tuple[int, int]:
    """KB of live Lua heap after a full collection: Redis's functions state (every library), its EVAL state."""
    functions = int(await HEAP_PROBE.function("heap", redis)())
    return functions, int(await redis.eval(HEAP_EVAL, 0))  # type: ignore[misc]


@dataclass
class Pool:
    agents: int
    skills: list[str]
    rng: random.Random
    seniors: dict[str, AgentSeed] = field(default_factory=dict)
    juniors: dict[str, AgentSeed] = field(default_factory=dict)
    serial: int = 0
    levels: dict[str, list[int]] = field(default_factory=dict)  # skill → agents' levels (index_skill)

    def uid(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}{self.serial}"

    def hot_seniors(self) -> list[str]:
        """Seniors with the busiest skill (skills[0], which half the waiting calls ask)."""
        return [a for a, seed in self.seniors.items() if self.skills[0] in seed.skills]

    def senior_need(self) -> tuple[dict[str, int], str]:
        """A skill, level (6+) and language some senior has: only seniors can serve it. Half ask the busiest
        skill, so a senior with it has many calls it can serve even among 200 skills."""
        hot = self.rng.random() < 0.5
        seed = self.seniors[self.rng.choice(self.hot_seniors())] if hot else self.rng.choice(list(self.seniors.values()))
        skill, level = (self.skills[0], seed.skills[self.skills[0]]) if hot else self.rng.choice(list(seed.skills.items()))
        return {skill: self.rng.randint(6, level)}, self.rng.choice(["", *seed.languages])

    def junior_pair(self) -> tuple[dict[str, int], str]:
        """Two skills and a language some free junior has, the one more agents have first (it ranks)."""
        seed = self.rng.choice([j for j in self.juniors.values() if len(j.skills) > 1] or list(self.juniors.values()))
        names = sorted(seed.skills, key=lambda n: -len(self.levels.get(n, ())))[:2]
        return {n: self.rng.randint(1, seed.skills[n]) for n in names}, self.rng.choice(["", *seed.languages])

    def junior_need(self) -> tuple[dict[str, int], str]:
        """A skill, level and language some free junior has."""
        seed = self.rng.choice(list(self.juniors.values()))
        skill, level = self.rng.choice(list(seed.skills.items()))
        return {skill: self.rng.randint(1, level)}, self.rng.choice(["", *seed.languages])


@dataclass
class Probe:
    """Client-side work that lands inside a timed span: garbage-collector pauses of this process, and churn steps
    that completed (their coroutine resumed on this process) while the span was open."""

    gc_seconds: float = 0.0
    churn_steps: int = 0
    _gc_started: float = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds += time.perf_counter() - self._gc_started


@dataclass
class Samples:
    probe: Probe = field(default_factory=Probe)
    gc_in: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CASES})
    churn_in: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CASES})
    lat: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CASES})
    looked: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CASES})
    agree: dict[str, list[bool]] = field(default_factory=lambda: {c: [] for c in CASES})
    eligible: list[int] = field(default_factory=list)
    ping: list[float] = field(default_factory=list)
    ping_with: Callable[[], Awaitable[object]] | None = None  # a PING on the measuring connection
    round: int = 0  # the measuring round a sample falls in (its scheduler figures: Rounds)
    round_of: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CASES})

    work_of: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # script run → its case, in order
    work_case: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CASES})

    async def timed(self, case: str, run: Callable[[], Awaitable[object]],
                    script: tuple[str, str, str] | None = None,
                    keep: Callable[[object], bool] | None = None) -> object:
        """Times `run`; `script` = (script name, ARGV[1], ARGV[2]) of its one script run, to count its commands;
        `keep`: whether the result is the case named (else the sample is dropped)."""
        if self.ping_with is not None:  # the baseline, interleaved: one PING before every timed decision
            started = time.perf_counter()
            await self.ping_with()
            self.ping.append(time.perf_counter() - started)
        gc0, churn0 = self.probe.gc_seconds, self.probe.churn_steps
        started = time.perf_counter()
        result = await run()
        took = time.perf_counter() - started
        if self.ping_with is None or (keep is not None and not keep(result)):
            return result  # a brute-force check (churn paused, right after reading every record) is not timed
        if script is not None:
            self.work_of.setdefault(script, []).append(case)
        self.lat[case].append(took)
        self.round_of[case].append(self.round)
        self.gc_in[case].append(self.probe.gc_seconds - gc0)
        self.churn_in[case].append(self.probe.churn_steps - churn0)
        return result

    def client_side(self, case: str) -> str:
        """Of the slowest 1 % of the case's spans: how many churn steps resumed inside them (mean) and the GC time
        inside them (max), beside the same over all spans."""
        lat = self.lat[case]
        if not lat:
            return f"{case} -"
        cut = sorted(lat)[min(len(lat) - 1, int(0.99 * len(lat)))]
        slow = [i for i, x in enumerate(lat) if x >= cut]
        churn_all = sum(self.churn_in[case]) / len(lat)
        churn_slow = sum(self.churn_in[case][i] for i in slow) / len(slow)
        gc_slow = max(self.gc_in[case][i] for i in slow) * 1e6
        return f"{case} (n={len(lat)}) churn {churn_all:.1f}/{churn_slow:.1f} GC max {gc_slow:.0f} µs"


class SchedWatch:
    """What the scheduler did to Redis and to this process: CPU-wait (ns runnable but not running, from
    /proc/<pid>/schedstat of Redis's main thread, which runs the scripts, and of this thread) and steal time (the
    hypervisor's, from /proc/stat, on Redis's core when pinned). Read before and after each measuring round."""

    def __init__(self, redis_pid: int, core: int | None) -> None:
        self.redis_pid, self.core = redis_pid, core
        self.tick_ms = 1000 / os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float, float]:
        """(Redis CPU-wait ms, bench CPU-wait ms, steal ms), cumulative."""
        redis_wait = int(Path(f"/proc/{self.redis_pid}/schedstat").read_text().split()[1]) / 1e6
        own_wait = int(Path(f"/proc/thread-self/schedstat").read_text().split()[1]) / 1e6
        label = "cpu" if self.core is None else f"cpu{self.core}"
        for line in Path("/proc/stat").read_text().splitlines():
            parts = line.split()
            if parts[0] == label:
                return redis_wait, own_wait, int(parts[8]) * self.tick_ms
        return redis_wait, own_wait, 0.0


class RedisCpu:
    """The CPU time Redis's main thread (the one that runs scripts) really had, on the wall clock: bench/
    redis_cpu_meter.c (compiled here with cc) on Redis's core at SCHED_FIFO priority 99 prints "<µs> <CPU µs>"
    every 500 µs. The kernel leaves the hypervisor's steal time out of a thread's CPU time, so a script run that
    SLOWLOG timed at 3 ms while the thread had 1 ms of CPU across it was stalled, not working (docs/router-indexes.md
    "Where the runs over 2 ms come from")."""

    PERIOD_US = 500

    def __init__(self, workdir: Path, core: int, redis_pid: int) -> None:
        self.note = ""
        self.woke: list[int] = []  # every wake-up (µs, Unix time) ...
        self.cpu: list[int] = []  # ... and Redis's main-thread CPU µs then
        # on tmpfs when there is one: a write to a disk-backed file can block the meter
        shm = Path("/dev/shm")
        self._dir = Path(tempfile.mkdtemp(prefix="redis_cpu.", dir=shm if shm.is_dir() else workdir))
        self._out = self._dir / "out"
        self._process: subprocess.Popen[bytes] | None = None
        self._read = 0
        exe = self._dir / "redis_cpu_meter"
        built = subprocess.run(["cc", "-O2", "-o", str(exe), str(Path(__file__).with_name("redis_cpu_meter.c"))],
                               capture_output=True, text=True)
        if built.returncode != 0:
            self.note = f"not measured (cc: {built.stderr.strip()[:80]})"
            return
        with self._out.open("wb") as out:
            self._process = subprocess.Popen(
                [str(exe), str(core), str(self.PERIOD_US), f"/proc/{redis_pid}/task/{redis_pid}/schedstat"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._process.poll() is None and b"ready" not in self._out.read_bytes():
            time.sleep(0.01)
        if self._process.poll() is not None or b"ready" not in self._out.read_bytes():
            self.note = f"not measured ({self._out.read_text(errors='replace').strip()[:80]})"
            self._process = None

    @property
    def on(self) -> bool:
        return self._process is not None

    def poll(self) -> None:
        """Reads the lines printed since the last look."""
        if not self.on:
            return
        with self._out.open("rb") as f:
            f.seek(self._read)
            text = f.read()
        end = text.rfind(b"\n") + 1
        for line in text[:end].decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                self.woke.append(int(parts[0]))
                self.cpu.append(int(parts[1]))
        self._read += end

    def across(self, start_us: int, end_us: int) -> tuple[int, int] | None:
        """(least, most) CPU µs a run in [start_us, end_us] used: Redis's CPU time between the first and the last
        wake-up inside the interval (all of it the run's), and between the last wake-up before it and the first
        after it (None: no wake-ups around it yet)."""
        i, j = bisect.bisect_right(self.woke, start_us) - 1, bisect.bisect_left(self.woke, end_us)
        if i < 0 or j >= len(self.woke):
            return None
        least = self.cpu[j - 1] - self.cpu[i + 1] if j - 1 > i + 1 else 0
        return least, self.cpu[j] - self.cpu[i]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class Rounds:
    """Per measuring round: the scheduler's figures (SchedWatch deltas) and whether Redis's SLOWLOG saw a script
    run over 2 ms in it, so a slow round can be told apart: the scheduler, or the script."""

    redis_wait: list[float] = field(default_factory=list)
    bench_wait: list[float] = field(default_factory=list)
    steal: list[float] = field(default_factory=list)
    slow_script: list[bool] = field(default_factory=list)

    def add(self, before: tuple[float, float, float], after: tuple[float, float, float], slow: bool) -> None:
        self.redis_wait.append(after[0] - before[0])
        self.bench_wait.append(after[1] - before[1])
        self.steal.append(after[2] - before[2])
        self.slow_script.append(slow)

    def of(self, rounds: list[int]) -> str:
        """Median Redis CPU-wait / steal (ms per round) over the given rounds."""
        got = [i for i in rounds if i < len(self.redis_wait)]
        if not got:
            return f"{'-':>5} {'-':>5}"
        return f"{median([self.redis_wait[i] for i in got]):>5.1f} {median([self.steal[i] for i in got]):>5.1f}"

    def summary(self, slow_rounds: set[int]) -> str:
        n = len(self.redis_wait)
        if not n:
            return "no rounds"
        def part(label: str, idx: list[int]) -> str:
            if not idx:
                return f"{label}: none"
            return (f"{label}: {len(idx)} rounds, Redis CPU-wait median {median([self.redis_wait[i] for i in idx]):.1f} "
                    f"ms (max {max(self.redis_wait[i] for i in idx):.1f}), bench CPU-wait "
                    f"{median([self.bench_wait[i] for i in idx]):.1f} ms, steal {median([self.steal[i] for i in idx]):.1f} ms")
        slow_script = [i for i in range(n) if self.slow_script[i]]
        slow = [i for i in range(n) if i in slow_rounds]
        rest = [i for i in range(n) if i not in slow_rounds and not self.slow_script[i]]
        return "; ".join((part("rounds with a script > 2 ms in SLOWLOG", slow_script),
                          part("rounds with a decision > 2 ms", slow), part("the other rounds", rest)))


def store_ttl(store: RouteStore) -> int:
    """The reservation time (ms) a store passes its scripts (the sweep's first argument)."""
    return store._ttl_ms  # noqa: SLF001 (the benchmark matches script runs by their arguments)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6 if ordered else float("nan")


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


async def note_looked(redis: Redis, samples: Samples, case: str, uid: str) -> None:
    lines = await redis.lrange(P + "explain:" + uid, -1, -1)
    for line in lines:
        m = LOOKED.search(line.decode())
        if m:
            samples.looked[case] = max(samples.looked[case], int(m.group(1) or m.group(2)))


async def seed(store: RouteStore, pool: Pool) -> None:
    batch: list[Awaitable[object]] = []
    for i in range(pool.agents):
        senior = i % 2 == 0
        names = pool.rng.sample(pool.skills, min(len(pool.skills), pool.rng.randint(1, 3)))
        if senior and i % 8 == 0 and pool.skills[0] not in names:  # a quarter of the seniors have the busiest skill
            names[0] = pool.skills[0]
        own = {s: pool.rng.randint(6, 10) if senior else pool.rng.randint(1, 5) for s in names}
        langs = tuple(pool.rng.sample(["en", "fr"], pool.rng.randint(1, 2)))
        agent = AgentSeed(f"a{i}", f"Agent {i}", f"PJSIP/a{i}", own, langs)
        (pool.seniors if senior else pool.juniors)[agent.id] = agent
        batch.append(store.upsert_agent(agent))
        if len(batch) >= 50:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)
    pool.levels = levels_by_skill(seed.skills for seed in (*pool.seniors.values(), *pool.juniors.values()))
    for group in (pool.seniors, pool.juniors):  # seniors log in first, then take a call; juniors stay free
        ids = list(group)
        for start in range(0, len(ids), 50):
            await asyncio.gather(*(store.action(a, "login") for a in ids[start:start + 50]))
            if group is pool.seniors:
                await asyncio.gather(*(store.device(a, "on_call", 0) for a in ids[start:start + 50]))


async def put_waiting(store: RouteStore, redis: Redis, pool: Pool, count: int) -> None:
    """`count` calls only seniors can serve, mixed segments, enqueued up to 10 minutes ago."""
    async def one() -> None:
        need, lang = pool.senior_need()
        base, aging = pool.rng.choice(SEGMENTS)
        uid = pool.uid("w")
        await store.offer(uid, need, (), lang, base, aging, "", "", "q", "standard")
        await redis.hincrby(P + "call:" + uid, "enq", -pool.rng.randint(0, 600_000))
        await store.retry(uid)  # indexed again at its age
    for start in range(0, count, 50):
        await asyncio.gather(*(one() for _ in range(min(50, count - start))))


async def churn(store: RouteStore, juniors: list[str], stop: threading.Event, probe: Probe) -> int:
    """Other instances' agents: pause and resume juniors back to back (every resume is a freed agent)."""
    rng = random.Random(1)
    changes = 0
    while not stop.is_set():
        agent = rng.choice(juniors)
        await store.action(agent, "pause", "churn")
        probe.churn_steps += 1
        await store.action(agent, "resume")
        probe.churn_steps += 1
        changes += 2
    return changes


class ChurnThread(threading.Thread):
    """The churn on its own thread, event loop and connection (as another instance would run it), so its steps do
    not resume on the measuring loop inside a timed span."""

    def __init__(self, url: str, juniors: list[str], probe: Probe) -> None:
        super().__init__(daemon=True)
        self.url, self.juniors, self.probe = url, juniors, probe
        self.stop = threading.Event()
        self.changes = 0

    def run(self) -> None:
        async def go() -> int:
            redis = Redis.from_url(self.url)
            try:
                return await churn(RouteStore(redis, reservation_ttl=600), self.juniors, self.stop, self.probe)
            finally:
                await redis.aclose()
        loop = uvloop.new_event_loop()
        try:
            self.changes = loop.run_until_complete(go())
        finally:
            loop.close()


async def agent_views(redis: Redis) -> list[AgentView]:
    ids = [m.decode() for m in await redis.smembers(P + "agents")]
    pipe = redis.pipeline(transaction=False)
    for agent_id in ids:
        pipe.hgetall(P + "agent:" + agent_id)
    views = []
    for agent_id, raw in zip(ids, await pipe.execute()):
        h = {k.decode(): v.decode() for k, v in raw.items()}
        if h.get("state") != "available":
            continue
        order = [part.split(":")[0] for part in h["skills"].split(",") if part]
        views.append(AgentView(agent_id, {s: int(h["s:" + s]) for s in order},
                               tuple(x for x in h.get("langs", "").split(",") if x),
                               int(h["idle_since"]) / 1000, int(h.get("skip_until", 0) or 0) / 1000))
    return views


async def waiting_views(redis: Redis) -> list[CallView]:
    keys = [k async for k in redis.scan_iter(match=P + "call:*", count=1000)]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    views = []
    for key, raw in zip(keys, await pipe.execute()):
        h = {k.decode(): v.decode() for k, v in raw.items()}
        if h.get("state") != "waiting":
            continue
        skills = {n: int(v) for n, v in (p.split(":") for p in h["skills"].split(",") if p)}
        steps = RELAX if h.get("steps") else ()
        views.append(CallView(key.decode()[len(P + "call:"):], skills, int(h["enq"]) / 1000, float(h["base"]),
                              float(h["aging"]), h.get("lang", ""), steps))
    return views


async def redis_now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return int(seconds) + (int(micros) // 1000) / 1000


def agent_view(seed: AgentSeed) -> AgentView:
    return AgentView(seed.id, dict(seed.skills), seed.languages, 0.0)


async def new_calls(store: RouteStore, redis: Redis, pool: Pool, s: Samples, check: bool) -> None:
    views = await agent_views(redis) if check else []
    now = await redis_now(redis) + 0.5 if check else 0.0
    for case, need_of in (("new/free", pool.junior_need), ("new/none", pool.senior_need),
                          ("new/multi", pool.junior_pair)):
        need, lang = need_of()
        uid = pool.uid("n")
        got = await s.timed(case, lambda: store.offer(uid, need, (), lang, 10, 0.5, "", "", "q", "standard",
                                                      index=index_skill(pool.levels, need)),
                            ("offer_call", uid, encode_skills(need)))
        await note_looked(redis, s, case, uid)
        if check:
            expected = best_agent(CallView(uid, need, now, 10, 0.5, lang), views, now)
            s.agree[case].append(getattr(got, "agent", "") == (expected.id if expected else ""))
        await store.leave(uid)  # the pool is as before (a freed junior keeps its idle time)


async def freed_senior(store: RouteStore, redis: Redis, pool: Pool, s: Samples, check: bool) -> None:
    agent = pool.rng.choice(pool.hot_seniors())
    views = await waiting_views(redis) if check else []
    now = await redis_now(redis) if check else 0.0
    _, uid = await s.timed("freed/many", lambda: store.device(agent, "idle", 0),  # type: ignore[arg-type]
                           ("agent_device", agent, "idle"))
    if check:
        me = agent_view(pool.seniors[agent])
        expected = best_call(me, views, now)
        s.agree["freed/many"].append(uid == (expected.uid if expected else ""))
        s.eligible.append(sum(1 for c in views if best_call(me, [c], now) is not None))
    await store.device(agent, "on_call", 0)  # back on a call; its new call is no longer routed
    if uid:
        await note_looked(redis, s, "freed/many", uid)
        await store.leave(uid)
        await put_waiting(store, redis, pool, 1)  # the line keeps its size


async def relaxation_round(store: RouteStore, redis: Redis, pool: Pool, s: Samples, check: bool) -> None:
    """100 calls whose step comes due at the same moment (aging 0, so moving their time keeps their scores)."""
    uids = [pool.uid("r") for _ in range(100)]
    for uid in uids:
        need, lang = pool.senior_need()
        await store.offer(uid, need, RELAX, lang, 30, 0.0, "", "", "q", "standard")
    pipe = redis.pipeline(transaction=False)
    for uid in uids:  # three seconds pass for them: the step (at 2 s) is due, none is indexed again yet
        pipe.hincrby(P + "call:" + uid, "enq", -3000)
        pipe.zincrby(P + "relax", -3000, uid)
        pipe.hget(P + "relaxing", uid)
    replies = await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for uid, info in zip(uids, replies[2::3]):
        if info is None:  # a junior already took it (on a loaded machine the 100 offers can outlast the 2 s step)
            continue
        enq, rest = info.decode().split(" ", 1)
        pipe.hset(P + "relaxing", uid, f"{int(enq) - 3000} {rest}")
        for skill in filter(None, rest.split(" ")[2].split(",")):
            pipe.zincrby(P + "relax:" + skill, -3000, uid)
    await pipe.execute()
    for _ in range(RELAX_CHECKED if check else RELAX_FREED):  # seniors freed one after another while the 100 are due
        agent = pool.rng.choice(pool.hot_seniors())
        views = await waiting_views(redis) if check else []
        now = await redis_now(redis) if check else 0.0
        _, uid = await s.timed("relax/free1", lambda: store.device(agent, "idle", 0),  # type: ignore[arg-type]
                               ("agent_device", agent, "idle"))
        if check:
            expected = best_call(agent_view(pool.seniors[agent]), views, now)
            s.agree["relax/free1"].append(uid == (expected.uid if expected else ""))
        await store.device(agent, "on_call", 0)
        if uid:
            await note_looked(redis, s, "relax/free1", uid)
            await store.leave(uid)
            if not uid.startswith("r"):
                await put_waiting(store, redis, pool, 1)
    for _ in range(1 if check else RELAX_FREED):  # sweep runs while they are due (the router repeats it while due)
        await s.timed("relax/sweep", lambda: store.sweep(runs=1), ("sweep", str(store_ttl(store)), str(SWEEP_BATCH)))
    free = await agent_views(redis) if check else []
    now = await redis_now(redis) + 0.5 if check else 0.0
    checked = not check
    for uid in uids:
        # the first call still waiting is checked (a freed agent may have taken some of the 100 already)
        compare = not checked and (await redis.hget(P + "call:" + uid, "state")) == b"waiting"
        # only retries that search count: the churn's freed juniors take some of the 100 first (then the retry
        # only reads that the call was offered)
        got = await s.timed("relax/retry", lambda: store.retry(uid), ("offer_call", uid, ""),
                            keep=lambda got: getattr(got, "status", "") != "offered")
        await note_looked(redis, s, "relax/retry", uid)
        if compare:
            checked = True
            need = {k: int(v) for k, v in (p.split(":") for p in (await redis.hget(P + "call:" + uid, "skills"))
                                           .decode().split(",") if p)}
            lang = (await redis.hget(P + "call:" + uid, "lang")).decode()
            enq = int(await redis.hget(P + "call:" + uid, "enq")) / 1000
            expected = best_agent(CallView(uid, need, enq, 30, 0, lang, RELAX), free, now)
            s.agree["relax/retry"].append(getattr(got, "agent", "") == (expected.id if expected else ""))
    for uid in uids:
        await store.leave(uid)


async def one_case(server: RedisServer, agents: int, n_skills: int, waiting: int, rounds: int,
                   seed_no: int, watch: SchedWatch, churn_mode: str = "task",
                   meter: RedisCpu | None = None) -> dict[str, object]:
    redis, other = Redis.from_url(server.url), Redis.from_url(server.url)
    await redis.flushdb()
    store, churner = RouteStore(redis, reservation_ttl=600), RouteStore(other, reservation_ttl=600)
    pool = Pool(agents, [f"s{i}" for i in range(n_skills)], random.Random(seed_no))
    await seed(store, pool)
    await put_waiting(store, redis, pool, waiting)
    library = counted_library()
    names = {library.function_name(n): n for n in route_store.SCRIPTS}
    # scripts from 50 µs on (nearly every run; 0 would also log, and slow down, each command a script runs)
    await redis.config_set("slowlog-log-slower-than", 50)
    await redis.config_set("slowlog-max-len", 100000)
    await redis.slowlog_reset()

    s = Samples()
    gc.callbacks.append(s.probe.on_gc)
    stop = threading.Event()
    churn_thread = ChurnThread(server.url, list(pool.juniors), s.probe) if churn_mode == "thread" else None
    churn_task: asyncio.Task[int] | None = None
    if churn_thread is not None:
        churn_thread.start()
    elif churn_mode == "task":
        churn_task = asyncio.create_task(churn(churner, list(pool.juniors), stop, s.probe))
    longest, longest_name, longest_args = 0, "-", ""
    by_script: dict[str, list[float]] = {}
    work: dict[str, list[int]] = {}
    work_by: dict[str, list[str]] = {}  # per run: "ZRANGE=3,HMGET=5,..."
    # SLOWLOG runs over 2 ms: (µs, script, its body's µs by Redis's TIME, the least and most CPU µs it used
    # (RedisCpu), its commands, Lua heap KB before and after its body); -1: not known (not matched, or no meter)
    over: list[tuple[int, str, int, int, int, int, int, int]] = []
    own_longest, own_name = 0, "-"  # the most CPU a SLOWLOG run can have used (its µs when not measured)
    bodies: tuple[list[int], list[int]] = ([], [])  # body µs of the runs a Lua GC cycle ended in (heap fell), others

    async def collect_slowlog() -> bool:
        """Script runs since the last look (read and reset every round: Redis 7 also logs the slow commands inside
        scripts, and the churn fills the log)."""
        nonlocal longest, longest_name, longest_args, own_longest, own_name
        over_2ms = False
        slow = await redis.slowlog_get(1_000_000)
        await redis.slowlog_reset()
        pipe = redis.pipeline(transaction=True)
        pipe.lrange(WORK_KEY, 0, -1)
        pipe.delete(WORK_KEY)
        runs: dict[tuple[str, str, str], list[tuple[int, int, int, int, int]]] = {}  # (script, ARGV[1], ARGV[2])
        # → (start µs, end µs, commands, Lua KB before, after)
        for entry in (await pipe.execute())[0]:
            name, count, by_command, arg1, arg2, t0, t1, kb0, kb1 = (entry.decode().split("\t") + [""] * 9)[:9]
            work.setdefault(name, []).append(int(count))
            work_by.setdefault(name, []).append(by_command)
            cases = s.work_of.get((name, arg1, arg2))
            if cases:
                s.work_case[cases.pop(0)].append(int(count))
            if t0.isdigit() and t1.isdigit() and kb0.isdigit() and kb1.isdigit():
                bodies[0 if int(kb0) - int(kb1) > GC_FELL_KB else 1].append(int(t1) - int(t0))
                runs.setdefault((name, arg1, arg2), []).append((int(t0), int(t1), int(count), int(kb0), int(kb1)))
        if meter is not None:
            meter.poll()
        for entry in slow:
            if not entry["command"].startswith(b"FCALL"):
                continue
            args = entry["command"].split()
            name = names.get(args[1].decode() if len(args) > 1 else "", "")
            if not name:
                continue
            took = int(entry["duration"])
            by_script.setdefault(name, []).append(took / 1e6)
            over_2ms = over_2ms or took > 2000
            if took > longest:
                longest, longest_name = took, name
                longest_args = b" ".join(args[3:9]).decode(errors="replace")[:80]
            own, body, least, cpu, commands, kb0, kb1 = took, -1, -1, -1, -1, -1, -1
            if took >= 1000:
                # its run: same script and arguments, ended in the second SLOWLOG logged it, body closest in length
                key = (name, *(a.decode(errors="replace") for a in (args[3:5] + [b"", b""])[:2]))
                fits = [r for r in runs.get(key, ())  # type: ignore[call-overload]
                        if abs(r[1] // 1_000_000 - int(entry["start_time"])) <= 1 and r[1] - r[0] <= took + 50]
                if fits:
                    t0, t1, commands, kb0, kb1 = min(fits, key=lambda r: took - (r[1] - r[0]))
                    body = t1 - t0
                    seen = meter.across(t0 - 20, t0 - 20 + took) if meter is not None else None
                    if seen is not None:
                        least, cpu = seen
                        own = min(took, cpu)
            if took > 2000:
                over.append((took, name, body, least, cpu, commands, kb0, kb1))
            if own > own_longest:
                own_longest, own_name = own, name
        return over_2ms

    per_round = Rounds()
    s.ping_with = redis.ping
    for i in range(rounds):
        s.round = i
        before = watch.read()
        await new_calls(store, redis, pool, s, False)
        await freed_senior(store, redis, pool, s, False)
        if i % RELAX_EVERY == 0:
            await relaxation_round(store, redis, pool, s, False)
        after = watch.read()
        per_round.add(before, after, await collect_slowlog())
    s.ping_with = None
    s.round = rounds  # the brute-force checks below fall in no measuring round
    if churn_thread is not None:
        churn_thread.stop.set()
        await asyncio.get_running_loop().run_in_executor(None, churn_thread.join)
        changes = churn_thread.changes
    elif churn_task is not None:
        stop.set()
        changes = await churn_task
    else:
        changes = 0
    gc.callbacks.remove(s.probe.on_gc)
    await collect_slowlog()
    for _ in range(10):  # brute-force agreement on a sample, churn paused
        await new_calls(store, redis, pool, s, True)
        await freed_senior(store, redis, pool, s, True)
    for _ in range(3):
        await relaxation_round(store, redis, pool, s, True)
    heaps = await lua_heaps(redis)
    await redis.aclose()
    await other.aclose()
    return {"s": s, "churn": changes, "slow": longest, "slow_name": longest_name, "slow_args": longest_args,
            "scripts": by_script, "over": len(over), "over_runs": over, "own": own_longest, "own_name": own_name,
            "bodies": bodies, "heaps": heaps,
            "work": work, "work_by": work_by, "rounds": per_round}


async def holding_cost(server: RedisServer, waiting: int, seconds: float) -> tuple[float, float]:
    """CPU (% of one core) of this process and of redis-server while a CallRouter holds `waiting` tickets."""
    redis = Redis.from_url(server.url)
    await redis.flushdb()
    store = RouteStore(redis, reservation_ttl=600)
    config = RoutingConfig(skills=frozenset({"s0"}), segments={"standard": Segment(10, 0.5)},
                           relaxation={"default": (RelaxStep(3600, min_level=1),)})
    router = CallRouter(store, lambda: config, asyncio.get_running_loop(), logging.getLogger("bench"))
    await router.start()
    tickets = []
    for start in range(0, waiting, 50):
        tickets += await asyncio.gather(*(router.request(
            f"h{i}", skills={"s0": 5}, language="", segment="standard", customer="", priority=0,
            relaxation="default", queue="q") for i in range(start, min(waiting, start + 50))))
    pid = server.process.pid if server.process else 0
    ticks = os.sysconf("SC_CLK_TCK")

    def redis_cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    own0, redis0, wall0 = time.process_time(), redis_cpu(), time.monotonic()
    await asyncio.sleep(seconds)  # the measurement window: only the sweeper and the tickets' timers run
    own, red, wall = time.process_time() - own0, redis_cpu() - redis0, time.monotonic() - wall0
    for t in tickets:
        await t.leave()
    await router.stop()
    await redis.aclose()
    return 100 * own / wall, 100 * red / wall


def command_mix(runs: list[str]) -> str:
    """Mean count per Redis command over the runs ("ZRANGE=3,HMGET=5" each), most frequent first."""
    total: dict[str, int] = {}
    for run in runs:
        for part in filter(None, run.split(",")):
            name, _, count = part.partition("=")
            total[name] = total.get(name, 0) + int(count)
    if not runs:
        return "-"
    return " ".join(f"{n} {c / len(runs):.1f}" for n, c in sorted(total.items(), key=lambda kv: -kv[1]))


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def pin(server: RedisServer) -> tuple[str, int | None]:
    """Redis on the first core, this process (client and churn) on the last: on a 2-core machine the two otherwise
    preempt each other and the p99 measures the scheduler (a production Redis has a core of its own).
    Returns what was done and Redis's core (None: not pinned)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or server.process is None:
        return "not pinned (one core)", None
    for tid in threads(server.process.pid):
        os.sched_setaffinity(tid, {cores[0]})
    os.sched_setaffinity(0, {cores[-1]})
    return f"Redis pinned to core {cores[0]}, the bench to core {cores[-1]}", cores[0]


def threads(pid: int) -> list[int]:
    """Every thread of a process (Redis has background I/O threads beside the one that runs commands)."""
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def realtime(server: RedisServer) -> str:
    """Redis (every thread) and this process under SCHED_FIFO priority 1: on a shared machine they run as soon as
    they are runnable instead of waiting behind other work on their core (what the slow rounds' CPU-wait showed).
    The kernel's RT throttling (`sched_rt_runtime_us`) still leaves the rest of the machine its share. Exits with a
    clear message when the policy cannot be set (needs root or CAP_SYS_NICE)."""
    if server.process is None:
        sys.exit("--rt: no redis-server process to schedule")
    policy = os.sched_param(1)
    tids = threads(server.process.pid)
    try:
        for tid in tids:
            os.sched_setscheduler(tid, os.SCHED_FIFO, policy)
        os.sched_setscheduler(0, os.SCHED_FIFO, policy)  # this thread; the churn thread (if any) inherits it
    except PermissionError as exc:
        sys.exit(f"--rt: SCHED_FIFO not permitted ({exc}); run as root or with CAP_SYS_NICE, or drop --rt")
    got = [os.sched_getscheduler(t) for t in (*tids, 0)]
    if any(g != os.SCHED_FIFO for g in got):
        sys.exit(f"--rt: SCHED_FIFO did not take effect (policies {got})")
    try:
        budget = Path("/proc/sys/kernel/sched_rt_runtime_us").read_text().strip()
    except OSError:
        budget = "?"
    return (f"REAL-TIME IN EFFECT: Redis (pid {server.process.pid}, {len(tids)} threads) and the bench at SCHED_FIFO "
            f"priority 1 (kernel RT budget {budget} µs per second)")


def renice(server: RedisServer, nice: int) -> str:
    """Redis and this process at niceness `nice` (< 0: ahead of the machine's other work on their cores, as a
    production Redis with a host of its own would be; the other sessions' processes still run)."""
    if server.process is None:
        return "not reniced"
    for pid in (server.process.pid, os.getpid()):
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    return f"Redis and the bench at nice {nice}"


async def main(quick: bool, only: tuple[int, int, int] | None = None, pinned: bool = False,
               churn_mode: str = "task", nice: int | None = None, rt: bool = False, cpu_meter: bool = False) -> None:
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10000)
    skill_counts = (1, 20) if quick else (1, 20, 200)
    rounds = 100 if quick else 300
    if only is not None:
        sizes, skill_counts = (only[0],), (only[1],)
    table: dict[tuple[int, int, int], dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        core: int | None = None
        if pinned:
            text, core = pin(server)
            print(text)
        if nice is not None:
            print(renice(server, nice))
        print(realtime(server) if rt else "real-time scheduling: off (normal time-sharing; --rt puts Redis and the "
              "bench under SCHED_FIFO)")
        watch = SchedWatch(server.process.pid if server.process else 0, core)
        meter = (RedisCpu(Path(tmp), core, server.process.pid) if cpu_meter and core is not None and server.process
                 else None)
        print(f"Redis's CPU time: read every {RedisCpu.PERIOD_US} µs on core {core} (bench/redis_cpu_meter.c at "
              f"SCHED_FIFO 99)" if meter is not None and meter.on else
              f"Redis's CPU time: {meter.note if meter is not None else 'not measured (--redis-cpu with --pin)'}")
        try:
            head = (f"{'agents':>6} {'skills':>6} {'wait':>5} | {'case':<11} | {'n':>5} {'p50 µs':>7} {'p99 µs':>7} "
                    f"{'p50÷PING':>8} {'p99÷PING':>8} | {'wait':>5} {'steal':>5} | {'looked':>6} | {'agree':>6}")
            print("churn: " + {"thread": "its own thread, loop and connection", "task": "a task on this loop",
                               "none": "none (diagnosis only)"}[churn_mode])
            print(f"load average at start {load()} on {os.cpu_count()} cores; PING: one on the same connection before "
                  f"every timed decision (p50÷PING = p50 ÷ PING p50, p99÷PING = p99 ÷ PING p99); wait/steal: median "
                  f"Redis CPU-wait / steal time (ms per measuring round) over the rounds holding the case's samples at "
                  f"or above its p99; SLOWLOG = longest script while the row was measured\n{head}")
            plan = [(a, k, 1000) for a in sizes for k in skill_counts]
            top_skills = skill_counts[-1]
            if only is not None:
                plan = [only]
            else:
                plan += [(sizes[-1], top_skills, w) for w in ((100, 3000) if quick else (100, 10000))]
            for agents, n_skills, waiting in plan:
                r = await one_case(server, agents, n_skills, waiting, rounds, agents + n_skills + waiting, watch,
                                   churn_mode, meter)
                table[(agents, n_skills, waiting)] = r
                s: Samples = r["s"]  # type: ignore[assignment]
                ping, ping99 = pct(s.ping, 0.5), pct(s.ping, 0.99)
                per_round: Rounds = r["rounds"]  # type: ignore[assignment]
                slow_rounds: set[int] = set()
                for case in CASES:
                    agree = s.agree[case]
                    share = f"{sum(agree)}/{len(agree)}" if agree else "-"
                    p99 = pct(s.lat[case], 0.99)
                    tail = [rd for x, rd in zip(s.lat[case], s.round_of[case]) if x * 1e6 >= p99]
                    slow_rounds.update(rd for x, rd in zip(s.lat[case], s.round_of[case]) if x > 0.002)
                    if not s.lat[case]:  # relax/retry with one skill: the churn's freed juniors took all 100 first
                        print(f"{agents:>6} {n_skills:>6} {waiting:>5} | {case:<11} | {0:>5} no sample (the churn's "
                              f"freed agents took every call first) | {share:>6}")
                        continue
                    print(f"{agents:>6} {n_skills:>6} {waiting:>5} | {case:<11} | {len(s.lat[case]):>5} "
                          f"{pct(s.lat[case], 0.5):>7.0f} {p99:>7.0f} {pct(s.lat[case], 0.5) / ping:>7.1f}× "
                          f"{p99 / ping99:>7.1f}× | {per_round.of(tail)} | {s.looked[case]:>6} | {share:>6}")
                eligible = sorted(s.eligible)[len(s.eligible) // 2] if s.eligible else 0
                scripts: dict[str, list[float]] = r["scripts"]  # type: ignore[assignment]
                print(f"{'':>20}inside Redis (SLOWLOG, runs ≥ 50 µs) p50/p99/max µs: " + ", ".join(
                    f"{n} {pct(v, 0.5):.0f}/{pct(v, 0.99):.0f}/{max(v) * 1e6:.0f}" for n, v in sorted(scripts.items())))
                work: dict[str, list[int]] = r["work"]  # type: ignore[assignment]
                print(f"{'':>20}Redis commands per script run p50/p99/max: " + ", ".join(
                    f"{n} {sorted(v)[len(v) // 2]}/{sorted(v)[min(len(v) - 1, int(0.99 * len(v)))]}/{max(v)}"
                    for n, v in sorted(work.items())))
                print(f"{'':>20}Redis commands per timed decision p50/max: " + ", ".join(
                    f"{c} {median([float(x) for x in s.work_case[c]]):.0f}/{max(s.work_case[c])}"
                    for c in CASES if s.work_case[c]))
                work_by: dict[str, list[str]] = r["work_by"]  # type: ignore[assignment]
                for n in ("agent_device", "sweep", "offer_call", "leave_call"):
                    print(f"{'':>20}{n} commands per run, mean: {command_mix(work_by.get(n, []))}")
                print(f"{'':>20}client side in the timed spans (churn steps resumed on this loop per span, all/slowest "
                      f"1 %; GC pause in the slowest 1 %): " + "; ".join(s.client_side(c) for c in CASES))
                runs = sum(len(v) for v in scripts.values())
                print(f"{'':>20}scheduler per measuring round (Redis's main thread, its core's steal): "
                      f"{per_round.summary(slow_rounds)}")
                print(f"{'':>20}PING p50 {ping:.0f} µs · p99 {ping99:.0f} µs (n={len(s.ping)}) · SLOWLOG longest "
                      f"{r['slow']} µs ({r['slow_name']} {r['slow_args']}) · script runs over 2 ms: {r['over']} of "
                      f"{runs} · churn {r['churn']} changes · a freed senior could serve {eligible} waiting calls "
                      f"(median) · load {load()}")
                heaps: tuple[int, int] = r["heaps"]  # type: ignore[assignment]
                print(f"{'':>20}live Lua heap after a full collection at the row's end: functions {heaps[0]} KB, "
                      f"EVAL {heaps[1]} KB")
                gc_end, others = r["bodies"]  # type: ignore[misc]
                if gc_end and others:
                    print(f"{'':>20}Lua garbage collection: a cycle ended (the heap fell > {GC_FELL_KB} KB) inside "
                          f"{len(gc_end)} of {len(gc_end) + len(others)} runs "
                          f"({100 * len(gc_end) / (len(gc_end) + len(others)):.1f} %); body p50/p99/max µs of those "
                          f"{pct([x / 1e6 for x in gc_end], 0.5):.0f}/{pct([x / 1e6 for x in gc_end], 0.99):.0f}/"
                          f"{max(gc_end)}, of the others {pct([x / 1e6 for x in others], 0.5):.0f}/"
                          f"{pct([x / 1e6 for x in others], 0.99):.0f}/{max(others)}")
                over_runs: list[tuple[int, str, int, int, int, int, int, int]]
                over_runs = r["over_runs"]  # type: ignore[assignment]
                verdict = (f" · most CPU a run can have used {r['own']} µs ({r['own_name']}) · of the runs over "
                           f"2 ms: "
                           f"{sum(1 for o in over_runs if 0 <= o[4] <= 2000)} had at most 2 ms of CPU (the rest was "
                           f"the core taken away), {sum(1 for o in over_runs if o[3] > 2000)} over 2 ms (the script's "
                           f"work, or hypervisor time the guest counts as running: see its commands and heap), "
                           f"{sum(1 for o in over_runs if o[4] < 0 or (o[3] <= 2000 < o[4]))} not decided"
                           if meter is not None and meter.on else " · CPU not measured")
                print(f"{'':>20}runs over 2 ms (µs; body: the script's own lines by Redis's TIME, the rest is Redis's "
                      f"set-up and its Lua GC step every 50 runs; CPU: the least–most CPU time Redis's main thread "
                      f"can have spent on the run, steal left out; commands; Lua heap KB before → after its body): "
                      + (
                          ", ".join(f"{name} {took} (body {'?' if body < 0 else body}, CPU "
                                    f"{'?' if cpu < 0 else f'{least}–{cpu}'}, {'?' if n < 0 else n} commands, "
                                    f"{kb0} → {kb1} KB)"
                                    for took, name, body, least, cpu, n, kb0, kb1 in sorted(over_runs, reverse=True))
                          or "none") + verdict)
                sys.stdout.flush()
            if only is not None:
                return
            print("\nlog-log slope of p50 against agents (1,000 waiting)")
            for n_skills in skill_counts:
                row = [table[(a, n_skills, 1000)]["s"] for a in sizes]
                print(f"  {n_skills:>3} skills: " + ", ".join(
                    f"{case} {slope(list(map(float, sizes)), [pct(x.lat[case], 0.5) for x in row]):+.2f}"  # type: ignore[attr-defined]
                    if all(x.lat[case] for x in row) else f"{case} -"  # type: ignore[attr-defined]
                    for case in CASES))
            waits = sorted(w for (a, k, w) in table if a == sizes[-1] and k == top_skills)
            row = [table[(sizes[-1], top_skills, w)]["s"] for w in waits]
            print(f"log-log slope of p50 against waiting calls ({sizes[-1]} agents, {top_skills} skills, "
                  f"{waits[0]}-{waits[-1]} waiting)\n  " + ", ".join(
                      f"{case} {slope(list(map(float, waits)), [pct(x.lat[case], 0.5) for x in row]):+.2f}"  # type: ignore[attr-defined]
                      for case in CASES))
            held = 2000 if quick else 10000
            own, red = await holding_cost(server, held, 5 if quick else 20)
            print(f"\nholding {held} waiting calls (CallRouter sweep every 0.5 s, offer-log re-check every 2 s): "
                  f"service {own:.2f} % + redis {red:.2f} % = {own + red:.2f} % of one core")
        finally:
            if meter is not None:
                meter.stop()
            server.stop()
    print(f"load average at the end {load()}")
    print("targets at 10,000 agents / 200 skills / 1,000 waiting: p99 < 2000 µs in every case; slopes ≤ 0.2; "
          "no script over 2000 µs in SLOWLOG; 100 % agreement; holding 10,000 waiting ≤ 5 % of a core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smaller sweep (CI smoke run)")
    parser.add_argument("--only", help="one row only: AGENTS,SKILLS,WAITING (e.g. 10000,200,1000)")
    parser.add_argument("--pin", action="store_true", help="Redis on one core, the bench on another")
    parser.add_argument("--rt", action="store_true",
                        help="Redis and the bench under SCHED_FIFO priority 1 (needs root; combine with --pin)")
    parser.add_argument("--nice", type=int, help="niceness of Redis and the bench (e.g. -10; needs root)")
    parser.add_argument("--churn", choices=("task", "thread", "none"), default="task",
                        help="churn as a task on the measuring loop, on its own thread, loop and connection, or none "
                             "(diagnosis: the machine's floor)")
    parser.add_argument("--redis-cpu", action="store_true",
                        help="with --pin: read Redis's CPU time every 500 µs on its core (bench/redis_cpu_meter.c, "
                             "SCHED_FIFO 99, needs cc and root) to tell each run over 2 ms apart: its work, or the "
                             "core taken away; 2,000 wake-ups a second on Redis's core, so off by default")
    args = parser.parse_args()
    uvloop.install()
    asyncio.run(main(args.quick, tuple(int(x) for x in args.only.split(",")) if args.only else None,  # type: ignore[arg-type]
                     args.pin, args.churn, args.nice, args.rt, args.redis_cpu))  # type: ignore[arg-type]
