"""What one call-path Redis round trip costs the service's CPU in the stores, against another checkout's stores.

A worker process per tree (the tree's own .venv and code) builds the client as the service does
(`switchboard.service.shared_redis`, default RedisSettings but the URL) and the stores on it, then runs the
call-path trips of many calls, `--concurrency` calls at a time, each call making four trips:
`CtiStore.open_call` (a known caller's look-up + the first record), `CtiStore.save_call` (a record write),
`RouteStore.call_state` (the router's read of a call) and `CtiStore.close_call` (record, self-service history and
FCR contact). The worker's own CPU (`time.process_time`) per trip is the figure: the client side only, Redis runs
in its own process (one private redis-server per tree). Trees run in `--pairs` interleaved rounds (order
alternating), so load on the shared machine hits both alike; the load average is printed before and after.

    python bench/store_trip_cost.py --baseline-tree DIR [--calls 4000] [--concurrency 20] [--pairs 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.sandbox import RedisServer  # noqa: E402

WORKER = textwrap.dedent("""\
    import asyncio, sys, time
    from switchboard.cli import _new_loop
    from switchboard.cti.call_context import CallContext
    from switchboard.cti.cti_store import CtiStore, HistoryEntry
    from switchboard.cti.customer import Customer, CustomerRecord
    from switchboard.cti.repeat_contacts import ContactEntry
    from switchboard.router.route_store import RouteStore
    from switchboard.service import shared_redis
    from switchboard.settings import RedisSettings

    CUSTOMERS = 50
    HISTORY = [{"at": 1700000000 + i, "queue": "billing", "outcome": "answered", "agent": f"a{i}"} for i in range(20)]

    def number(i):
        return f"+4420794{60000 + i % CUSTOMERS:05d}"

    async def call(cti, route, i):
        uid = f"1700000000.{i}"
        ctx = CallContext(uniqueid=uid, flow="main", dialplan_version="v1", caller=number(i), dnid="2000",
                          started_at=1700000000.0 + i, path=("welcome", "hours", "language", "menu"))
        await cti.open_call(number(i), ctx)
        ctx = CallContext(**{**ctx.__dict__, "customer_id": f"c{i % CUSTOMERS}", "segment": "gold",
                             "path": ctx.path + ("route",), "intents": ("billing",), "queue": "billing"})
        await cti.save_call(ctx)
        await route.call_state(uid)
        end = CallContext(**{**ctx.__dict__, "state": "ended", "outcome": "answered"})
        contact = ContactEntry(f"c{i % CUSTOMERS}", uid, 1700000000.0 + i, 86400.0, False, "billing", "billing",
                               "gold", "main")
        await cti.close_call(end, HistoryEntry(f"c{i % CUSTOMERS}", {"node": "menu", "at": i}, "self_service"),
                             contact)

    async def main(url, concurrency):
        client = shared_redis(RedisSettings(url=url))
        cti, route = CtiStore(client, b"pepper"), RouteStore(client)
        await cti.write([CustomerRecord(Customer(id=f"c{i}", name=f"Customer {i}", segment="gold", language="en",
                                                 account=f"5550{i:04d}", phones=(number(i),),
                                                 recent_contacts=tuple(HISTORY), self_service=tuple(HISTORY)))
                         for i in range(CUSTOMERS)])
        print("ready", flush=True)
        for line in sys.stdin:  # one round per line: "<first uid> <calls>"
            first, n = (int(x) for x in line.split())
            todo = iter(range(first, first + n))

            async def worker():
                for i in todo:
                    await call(cti, route, i)
            cpu0 = time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            print(f"{time.process_time() - cpu0:.6f}", flush=True)

    loop = _new_loop()
    loop.run_until_complete(main(sys.argv[1], int(sys.argv[2])))
    """)
TRIPS_PER_CALL = 4


def python_of(tree: Path) -> str:
    own = tree / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(baseline: Path, calls: int, concurrency: int, pairs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="store-trip-") as tmp:
        work = Path(tmp)
        (work / "worker.py").write_text(WORKER)
        trees = {"this tree": REPO, str(baseline): baseline.resolve()}
        servers, workers = [], {}
        try:
            for label, tree in trees.items():
                redis = RedisServer(work / f"redis-{len(servers)}").start()
                servers.append(redis)
                workers[label] = subprocess.Popen([python_of(tree), str(work / "worker.py"), redis.url,
                                                   str(concurrency)], cwd=tree, stdin=subprocess.PIPE,
                                                  stdout=subprocess.PIPE, text=True)
            for proc in workers.values():
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            print(f"load average {load()}; {os.cpu_count()} CPUs; {calls} calls per tree ({TRIPS_PER_CALL} trips "
                  f"each), concurrency {concurrency}, {pairs} interleaved rounds")
            per_round = max(1, calls // pairs)
            totals = dict.fromkeys(workers, 0.0)
            labels = list(workers)
            for proc in workers.values():  # warm-up round (scripts loaded, caches filled), not counted
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"10000000 {min(500, per_round)}\n")
                proc.stdin.flush()
                proc.stdout.readline()
            for i in range(pairs):
                for label in labels if i % 2 == 0 else labels[::-1]:
                    proc = workers[label]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{i * per_round} {per_round}\n")
                    proc.stdin.flush()
                    totals[label] += float(proc.stdout.readline())
            trips = per_round * pairs * TRIPS_PER_CALL
            per_trip = {label: seconds / trips * 1e6 for label, seconds in totals.items()}
            for label in labels:
                print(f"{label:<30} {per_trip[label]:7.1f} µs client CPU per call-path trip")
            print(f"load average at the end {load()}")
            ours, theirs = per_trip[labels[0]], per_trip[labels[1]]
            print(f"this tree ÷ {baseline}: {ours / theirs:.2f}× ({ours:.0f} vs {theirs:.0f} µs per trip)")
        finally:
            for proc in workers.values():
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for redis in servers:
                redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-tree", type=Path, required=True, help="another checkout with its own .venv")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    main(args.baseline_tree, args.calls, args.concurrency, args.pairs)
