"""`switchboard customers import` at 100,000 customers, against a bare Redis pipeline writing the same hashes.

Generates a CSV of fictional customers (valid GB numbers, segments, accounts, verification secrets), starts a
private redis-server, and times the whole import (read, validate, normalise numbers with phonenumbers, hash
secrets, write customers and their indexes in transactions) next to the floor any importer pays: one pipelined
HSET per customer of the same fields, no validation or hashing, measured in the same run.

    python bench/customer_import_bench.py [--rows 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

import uvloop
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cti.caller_id import CallerIdNormaliser  # noqa: E402
from cti.customer_import import RowRules, import_file  # noqa: E402
from cti.customer_store import CustomerStore  # noqa: E402
from tests.e2e.sandbox import RedisServer  # noqa: E402

SEGMENTS = ("vip", "gold", "standard", "at-risk")
PEPPER = b"bench-pepper-not-a-secret"


def generate(path: Path, rows: int) -> list[dict[str, str]]:
    rng = random.Random(1)
    out = []
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "name", "phones", "segment", "language", "account",
                                                    "secret"])
        writer.writeheader()
        for i in range(rows):
            # unique numbers that libphonenumber accepts (fictional: generated, not anyone's)
            row = {"id": f"c{i}", "name": f"Customer {i}", "phones": f"+447400{100_000 + i:06d}",
                   "segment": rng.choice(SEGMENTS), "language": rng.choice(["en", "fr"]),
                   "account": f"{10_000_000 + i}", "secret": f"{rng.randrange(10_000):04d}"}
            writer.writerow(row)
            out.append(row)
    return out


async def bare(url: str, rows: list[dict[str, str]]) -> float:
    redis = Redis.from_url(url)
    await redis.flushdb()
    started = time.perf_counter()
    for start in range(0, len(rows), 500):
        pipe = redis.pipeline(transaction=False)
        for row in rows[start:start + 500]:
            pipe.hset(f"bare:{row['id']}", mapping=row)
        await pipe.execute()
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return elapsed


async def full(url: str, path: Path) -> tuple[float, int, int]:
    store = CustomerStore.from_url(url, 30.0, PEPPER)
    await store.client.flushdb()
    normaliser = CallerIdNormaliser("GB")
    rules = RowRules(segments=frozenset(SEGMENTS), normalise=lambda raw: normaliser.normalise(raw).key, pepper=PEPPER)
    started = time.perf_counter()
    report = await import_file(path, store, rules)
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed, report.imported, len(report.problems)


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        data = generate(path, rows)
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            base = await bare(server.url, data)
            took, imported, refused = await full(server.url, path)
        finally:
            server.stop()
    print(f"rows: {rows:,}  imported: {imported:,}  refused: {refused:,}")
    print(f"bare pipelined HSET:   {base:6.2f} s  ({rows / base:9,.0f} rows/s)")
    print(f"switchboard import:    {took:6.2f} s  ({rows / took:9,.0f} rows/s)  = {took / base:.1f}× the bare floor")
    print(f"target: 100,000 customers well under a minute -> {'met' if took * 100_000 / rows < 60 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    uvloop.install()
    asyncio.run(main(parser.parse_args().rows))
