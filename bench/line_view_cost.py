"""What one wait-estimate read (`RouteStore.line_view`) costs Redis at many agents and waiting calls: the commands
it issues (INFO commandstats, commands run inside scripts included) and its time, against the previous reading
(place by arrival in `qwait:<queue>`, then one HMGET per logged-in agent), measured interleaved in one run.

    python bench/line_view_cost.py [--agents 10000] [--calls 1000] [--rounds 200]

Agents have `billing` at levels 1-9 (all logged in, none able to take the calls, which ask billing 10 in several
languages, priorities and aging rates: they all wait). Prints commands per read and mean ms per read for the
previous reading, the new one when its agent roster must be read (first read of a period), and the new one within
a period; and os.getloadavg().
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from switchboard.router.route_store import P, RouteStore
from switchboard.router.routing_config import AgentSeed
from tests.e2e.sandbox import RedisServer


async def by_arrival(redis: Redis, uid: str, queue: str, skills: dict[str, int], language: str) -> tuple[int, int]:
    """The previous line_view (s5-int): rank by arrival in `qwait:<queue>`, then one HMGET per working agent."""
    pipe = redis.pipeline(transaction=False)
    pipe.zrank(P + "qwait:" + queue, uid)
    pipe.hgetall(P + "states")
    rank, states = await pipe.execute()
    working = [a.decode() for a, st in states.items() if st.decode() not in ("logged_out", "paused", "")]
    position = 0 if rank is None else int(rank) + 1
    names = list(skills)
    pipe = redis.pipeline(transaction=False)
    for agent in working:
        pipe.hmget(P + "agent:" + agent, "langs", *[f"s:{name}" for name in names])
    eligible = 0
    for reply in await pipe.execute():
        langs, levels = (reply[0] or b"").decode(), reply[1:]
        if language and f",{language}," not in langs:
            continue
        if all(level is not None and int(level) >= skills[n] for n, level in zip(names, levels)):
            eligible += 1
    return position, eligible


async def commands(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config"))


async def main(agents: int, calls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            redis = Redis.from_url(server.url)
            store = RouteStore(redis, roster_ttl=5.0)
            rng = random.Random(1)
            for i in range(agents):
                await store.upsert_agent(AgentSeed(f"a{i}", f"A{i}", f"PJSIP/a{i}", {"billing": rng.randint(1, 9)},
                                                   ("en",)))
                await store.action(f"a{i}", "login")
            uids = [f"c{i}" for i in range(calls)]
            for uid in uids:
                await store.offer(uid, {"billing": 10}, (), rng.choice(["", "en", "fr"]), rng.choice([10.0, 50.0]),
                                  rng.choice([0.0, 0.5]), "", "", "billing", "standard")
            results: dict[str, list[tuple[int, float]]] = {"previous": [], "new, roster read": [],
                                                           "new, within period": []}
            for r in range(rounds):
                uid = rng.choice(uids)
                for name in ("previous", "new, roster read", "new, within period"):  # interleaved
                    if name == "new, roster read":
                        store = RouteStore(redis, roster_ttl=5.0)  # a fresh roster: this read refreshes it
                    await redis.config_resetstat()
                    t0 = time.perf_counter()
                    if name == "previous":
                        await by_arrival(redis, uid, "billing", {"billing": 10}, "en")
                    else:
                        await store.line_view(uid, "billing", {"billing": 10}, "en")
                    elapsed = time.perf_counter() - t0
                    results[name].append((await commands(redis), elapsed))
            lines = await store.line_position(uids[0])
            print(f"agents={agents} waiting calls={calls} rounds={rounds} lines counted for one call={lines[1]}")
            for name, rows in results.items():
                print(f"{name:22s} commands/read={sum(c for c, _ in rows) / len(rows):8.1f}  "
                      f"ms/read={1000 * sum(t for _, t in rows) / len(rows):8.2f}")
            print("loadavg", os.getloadavg())
            await redis.aclose()
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.agents, args.calls, args.rounds))
