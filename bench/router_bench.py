"""Routing decision latency with 10 to 10,000 agents, 1 to 200 skills and 1,000 waiting calls, under state churn.

For each pool size and skill count it seeds agents (1-3 skills each, levels 1-10, 1-2 languages) in a private
redis-server, puts 1,000 calls in line, then measures, while a second connection keeps pausing and resuming
agents (churn):

* call decision — a new call offered (agent surplus: most agents are free): the Lua picks the best agent;
* agent decision — an agent freed while 1,000 calls wait, none of which it can serve (the worst case: it looks
  at every one);

each as p50/p99 in microseconds including the Redis round trip, next to a bare PING round trip on the same
connection (the baseline measured in the same run). A sample of call decisions made with churn paused is checked
by brute force against router.decision.best_agent (the specification): the agreement rate is printed.

    python bench/router_bench.py [--quick]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.router.decision import AgentView, CallView, best_agent  # noqa: E402
from switchboard.router.route_store import P, RouteStore  # noqa: E402
from switchboard.router.routing_config import AgentSeed  # noqa: E402
from tests.e2e.sandbox import RedisServer  # noqa: E402

WAITING = 1000


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


async def seed(store: RouteStore, rng: random.Random, agents: int, skills: list[str]) -> None:
    pipe_batch = []
    for i in range(agents):
        own = {s: rng.randint(1, 10) for s in rng.sample(skills, min(len(skills), rng.randint(1, 3)))}
        langs = tuple(rng.sample(["en", "fr"], rng.randint(1, 2)))
        pipe_batch.append(store.upsert_agent(AgentSeed(f"a{i}", f"Agent {i}", f"PJSIP/a{i}", own, langs)))
        if len(pipe_batch) >= 50:
            await asyncio.gather(*pipe_batch)
            pipe_batch = []
    await asyncio.gather(*pipe_batch)


async def churn(store: RouteStore, rng: random.Random, agents: int, stop: asyncio.Event) -> int:
    """Pauses and resumes random agents until told to stop (the state changes a live centre sees)."""
    changes = 0
    while not stop.is_set():
        agent = f"a{rng.randrange(agents)}"
        await store.action(agent, "pause", "churn")
        await store.action(agent, "resume")
        changes += 2
    return changes


async def one_case(url: str, agents: int, n_skills: int, decisions: int, rng: random.Random) -> dict[str, float]:
    redis = Redis.from_url(url)
    other = Redis.from_url(url)
    await redis.flushdb()
    store, churner = RouteStore(redis, reservation_ttl=600), RouteStore(other, reservation_ttl=600)
    skills = [f"s{i}" for i in range(n_skills)]
    await seed(store, rng, agents, skills)
    # 1,000 calls waiting for skills no agent has: every freed agent must look through all of them and find
    # none it can serve (the worst case of the agent decision), and the pool stays in a steady state
    for i in range(WAITING):
        await store.offer(f"w{i}", {f"rare{i % 50}": 1}, (), "", rng.choice([10, 50, 100]), 0.5, "", "", "q",
                          "standard")
    for i in range(agents):
        await store.action(f"a{i}", "login")

    ping: list[float] = []
    for _ in range(decisions):
        t = time.perf_counter()
        await redis.ping()
        ping.append(time.perf_counter() - t)

    stop = asyncio.Event()
    churn_task = asyncio.create_task(churn(churner, random.Random(1), agents, stop))
    call_lat: list[float] = []
    agent_lat: list[float] = []
    for i in range(decisions):
        need = {rng.choice(skills): rng.randint(1, 8)}
        t = time.perf_counter()
        result = await store.offer(f"n{i}", need, (), rng.choice(["", "en", "fr"]), 10, 0.5, "", "", "q",
                                   "standard")
        call_lat.append(time.perf_counter() - t)
        if result.status == "assigned":
            # the caller leaves: the reserved agent is freed and looks through the 1,000 waiting calls
            t = time.perf_counter()
            await store.leave(f"n{i}")
            agent_lat.append(time.perf_counter() - t)
            continue
        await store.leave(f"n{i}")
    stop.set()
    changes = await churn_task

    # decision quality: with churn stopped, compare the Lua's pick with the specification's
    agree = total = 0
    for i in range(20):
        need = {rng.choice(skills): rng.randint(1, 8)}
        language = rng.choice(["", "en", "fr"])
        views = []
        for agent_id in [m.decode() for m in await redis.smembers(P + "agents")]:
            h = {k.decode(): v.decode() for k, v in (await redis.hgetall(P + "agent:" + agent_id)).items()}
            if h.get("state") != "available":
                continue
            own = {k[2:]: int(v) for k, v in h.items() if k.startswith("s:")}
            views.append(AgentView(agent_id, dict(sorted(own.items(), key=lambda kv: h["skills"].index(kv[0]))),
                                   tuple(x for x in h.get("langs", "").split(",") if x),
                                   int(h["idle_since"]) / 1000, int(h.get("skip_until", 0) or 0) / 1000))
        expected = best_agent(CallView("q", need, 0, 10, 0, language), views, now=time.time() + 1e6)
        got = await store.offer(f"check{i}", need, (), language, 10, 0.5, "", "", "q", "standard")
        total += 1
        agree += got.agent == (expected.id if expected else "")
        await store.leave(f"check{i}")
    await redis.aclose()
    await other.aclose()
    return {"ping_p50": pct(ping, 0.5), "call_p50": pct(call_lat, 0.5), "call_p99": pct(call_lat, 0.99),
            "agent_p50": pct(agent_lat, 0.5) if agent_lat else 0.0,
            "agent_p99": pct(agent_lat, 0.99) if agent_lat else 0.0, "churn": changes,
            "quality": agree / total if total else 1.0}


async def main(quick: bool) -> None:
    sizes = (10, 100, 1000) if quick else (10, 100, 1000, 10000)
    skill_counts = (1, 20) if quick else (1, 20, 200)
    decisions = 200 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            print(f"{'agents':>7} {'skills':>6} | {'PING p50':>9} | {'call p50':>9} {'call p99':>9} "
                  f"{'p99/PING':>8} | {'agent p50':>9} {'agent p99':>9} | {'churn':>6} | quality")
            for agents in sizes:
                for n_skills in skill_counts:
                    r = await one_case(server.url, agents, n_skills, decisions, random.Random(agents + n_skills))
                    print(f"{agents:>7} {n_skills:>6} | {r['ping_p50']:>7.0f}µs | {r['call_p50']:>7.0f}µs "
                          f"{r['call_p99']:>7.0f}µs {r['call_p99'] / r['ping_p50']:>7.1f}× | "
                          f"{r['agent_p50']:>7.0f}µs {r['agent_p99']:>7.0f}µs | {r['churn']:>6} | "
                          f"{r['quality']:.0%}", flush=True)
        finally:
            server.stop()
    print(f"target: call and agent decision p99 under 2000µs at 10,000 agents, with {WAITING} calls waiting")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sweep (CI smoke run)")
    uvloop.install()
    asyncio.run(main(parser.parse_args().quick))
