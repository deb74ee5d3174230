"""Benchmark of `switchboard customers import` at 100,000 customers, next to a bare Redis pipeline.

Owns the customer-import benchmark: it generates a CSV of fictional customers (made-up names, GB numbers checked
valid with phonenumbers, segments from the closed list, an account and a verification secret on every row), starts
its own redis-server on a free loopback port, and in one run times

* the floor: a bare redis-py pipeline (no transaction) doing one HSET per customer with the same fields the store
  writes, values prepared beforehand: no parsing, validation, normalising or hashing;
* the real thing: `switchboard customers import FILE --config ...` run in-process through `switchboard.cli.main`
  (read the CSV, validate every row, normalise phones, hash secrets, write customers and their phone/account
  indexes one MULTI/EXEC per batch);
* where the time goes: the CPU-only part of the import (read + validate + normalise + hash, no Redis) and its
  two costly steps alone, so the Redis share is the difference.

It asserts nothing; it prints rows/s, seconds, the ratio to the floor and whether 100k customers take well under a
minute. `--profile` also prints a cProfile of the import.

    .venv/bin/python bench/customer_import_bench.py [--rows 100000] [--profile]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import io
import json
import pstats
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import phonenumbers
from redis.asyncio import Redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from switchboard.cti.caller_id import CallerIdNormaliser  # noqa: E402
from switchboard.cti.customer_import import BATCH, RowRules, check_row, read_rows  # noqa: E402
from switchboard.cti.cti_store import customer_key  # noqa: E402
from switchboard.cti.customer import LIST_FIELDS, hash_secret  # noqa: E402
from switchboard import cli  # noqa: E402
from tests.e2e.sandbox import RedisServer  # noqa: E402

SEGMENTS = ("vip", "gold", "standard", "at-risk")
LANGUAGES = ("en", "en", "en", "fr", "de", "cy")
PEPPER = "bench-pepper-not-a-secret"
FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia",
         "Tim", "Sophie", "Karen", "John", "Hedy", "Niklaus", "Annie", "Charles", "Mary")
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie",
        "Perlman", "Berners-Lee", "Wilson", "Jones", "McCarthy", "Lamarr", "Wirth", "Easley", "Babbage", "Somerville")
# 020 794x xxxx, 020 795x xxxx, ...: each block gives 100,000 London numbers (all checked before use)
FIXED_BLOCKS = ("+4420794", "+4420795", "+4420796", "+4420797", "+4420798")
MOBILE_BLOCK = "+447400"   # 07400 xxxxxx


@dataclass(frozen=True)
class Generated:
    """The CSV on disk and, per row, the hash fields the store will write (for the bare baseline)."""

    path: Path
    hashes: list[dict[Any, str]]   # keys typed Any only to satisfy redis-py's Mapping[EncodableT, ...]
    phone_keys: int
    account_keys: int


def valid_numbers(prefix: str, width: int, count: int, start: int = 0) -> Iterator[str]:
    """Yield `count` E.164 numbers prefix + width digits that phonenumbers calls valid (skipping any that are not)."""
    n = start
    made = 0
    while made < count:
        if n >= 10 ** width:
            raise ValueError(f"block {prefix} ran out of numbers")
        e164 = f"{prefix}{n:0{width}d}"
        n += 1
        if phonenumbers.is_valid_number(phonenumbers.parse(e164)):
            made += 1
            yield e164


def generate(folder: Path, rows: int) -> Generated:
    """Writes customers.csv with `rows` fictional customers; a quarter of the numbers are written nationally."""
    if rows > 100_000 * len(FIXED_BLOCKS):
        raise ValueError(f"at most {100_000 * len(FIXED_BLOCKS):,} rows")
    rng = random.Random(1)
    fixed = (e for block in FIXED_BLOCKS for e in valid_numbers(block, 5, 100_000))
    mobiles = valid_numbers(MOBILE_BLOCK, 6, rows // 5 + 1)
    fake_hash = hash_secret("0000", PEPPER.encode())   # same length as every real one; the floor does not hash
    path = folder / "customers.csv"
    hashes: list[dict[Any, str]] = []
    phone_keys = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["id", "name", "phones", "segment", "language", "account",
                                                 "secret", "open_cases"])
        writer.writeheader()
        for i in range(rows):
            phones = [next(fixed)]
            if i % 5 == 0:
                phones.append(next(mobiles))
            written = [phonenumbers.format_number(phonenumbers.parse(p), phonenumbers.PhoneNumberFormat.NATIONAL)
                       if i % 4 == 0 else p for p in phones]
            cases = [f"CASE-{rng.randrange(100_000):05d}"] if i % 10 == 0 else []
            row = {"id": f"C{i:07d}", "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "phones": ";".join(written),
                   "segment": rng.choice(SEGMENTS), "language": rng.choice(LANGUAGES),
                   "account": f"{40_000_000 + i}", "secret": f"{rng.randrange(10 ** 6):0{rng.choice((4, 6))}d}",
                   "open_cases": json.dumps(cases) if cases else ""}
            writer.writerow(row)
            mapping: dict[Any, str] = {k: row[k] for k in ("id", "name", "segment", "language", "account")}
            mapping["phones"] = ",".join(phones)
            for name in LIST_FIELDS:
                mapping[name] = json.dumps(cases if name == "open_cases" else [])
            mapping["secret"] = fake_hash
            hashes.append(mapping)
            phone_keys += len(phones)
    return Generated(path, hashes, phone_keys, rows)


async def flush(url: str) -> int:
    """Empties the bench's Redis; returns how many keys there were."""
    redis = Redis.from_url(url)
    try:
        size = int(await redis.dbsize())
        await redis.flushall()
        return size
    finally:
        await redis.aclose()


async def bare(url: str, hashes: list[dict[Any, str]]) -> float:
    """Seconds for one pipelined HSET per customer, BATCH per round trip, no transaction."""
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.ping()
        started = time.perf_counter()
        for start in range(0, len(hashes), BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for mapping in hashes[start:start + BATCH]:
                    pipe.hset(customer_key(mapping["id"]), mapping=mapping)
                await pipe.execute()
        return time.perf_counter() - started
    finally:
        await redis.aclose()


def write_settings(folder: Path, url: str) -> Path:
    """A settings file for the CLI: this Redis, GB numbers, the closed segment list, a pepper file."""
    pepper = folder / "pepper"
    pepper.write_text(PEPPER + "\n", encoding="utf-8")
    config = folder / "settings.yaml"
    config.write_text(f"ami:\n  enabled: false\nredis:\n  url: {url}\n"
                      f"cti:\n  default_region: GB\n  segments: [{', '.join(SEGMENTS)}]\n"
                      f"  default_segment: standard\n  pepper_file: {pepper}\n", encoding="utf-8")
    return config


def run_cli(csv_path: Path, config: Path, profile: bool) -> tuple[float, int, str, pstats.Stats | None]:
    """Runs `switchboard customers import` in-process; returns seconds, exit code, its output, the profile."""
    argv = ["customers", "import", str(csv_path), "--config", str(config)]
    output = io.StringIO()
    profiler = cProfile.Profile() if profile else None
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        started = time.perf_counter()
        if profiler is not None:
            code = profiler.runcall(cli.main, argv)
        else:
            code = cli.main(argv)
        took = time.perf_counter() - started
    return took, code, output.getvalue(), pstats.Stats(profiler) if profiler is not None else None


def cpu_phases(csv_path: Path) -> dict[str, float]:
    """Seconds for the import's work without Redis: all of it, then normalising and hashing alone."""
    normaliser = CallerIdNormaliser("GB")
    rules = RowRules(segments=frozenset(SEGMENTS), normalise=lambda raw: normaliser.normalise(raw).key,
                     pepper=PEPPER.encode())
    out: dict[str, float] = {}
    started = time.perf_counter()
    rows = list(read_rows(csv_path))
    out["read CSV"] = time.perf_counter() - started
    started = time.perf_counter()
    refused = sum(isinstance(check_row(row, rules), str) for _, row in rows)
    out["validate rows (incl. normalise + hash)"] = time.perf_counter() - started
    assert refused == 0, f"{refused} generated rows refused"
    phones = [p.strip() for _, row in rows for p in row["phones"].split(";")]
    started = time.perf_counter()
    for phone in phones:
        normaliser.normalise(phone)
    out[f"  of which normalise {len(phones):,} phones"] = time.perf_counter() - started
    started = time.perf_counter()
    for _, row in rows:
        hash_secret(row["secret"], rules.pepper)
    out[f"  of which hash {len(rows):,} secrets"] = time.perf_counter() - started
    return out


def main(rows: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="customer-import-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        data = generate(folder, rows)
        print(f"generated {rows:,} customers ({data.phone_keys:,} phones, all valid per phonenumbers) "
              f"in {time.perf_counter() - started:.1f}s: {data.path.stat().st_size / 1e6:.1f} MB CSV")
        server = RedisServer(folder / "redis").start()
        try:
            config = write_settings(folder, server.url)
            asyncio.run(flush(server.url))
            base = asyncio.run(bare(server.url, data.hashes))
            base_keys = asyncio.run(flush(server.url))
            took, code, output, stats = run_cli(data.path, config, profile)
            keys = asyncio.run(flush(server.url))
        finally:
            server.stop()
        phases = cpu_phases(data.path)

    expected_keys = rows + data.phone_keys + data.account_keys
    print(f"switchboard says:      {output.strip().splitlines()[-1] if output.strip() else '(nothing)'} "
          f"(exit {code})")
    print(f"keys in Redis:         bare {base_keys:,} (expected {rows:,}); "
          f"import {keys:,} (expected {expected_keys:,}: customers + phone + account indexes)")
    print()
    print(f"bare pipelined HSET:   {base:7.2f} s  {rows / base:>10,.0f} rows/s")
    print(f"customers import:      {took:7.2f} s  {rows / took:>10,.0f} rows/s   {took / base:.1f}x the bare floor")
    per_100k = took * 100_000 / rows
    verdict = "yes" if per_100k < 30 else ("under a minute, but not well under" if per_100k < 60 else "NO")
    print(f"100,000 customers well under a minute? {verdict} ({per_100k:.1f} s per 100k)")
    print()
    print("where the time goes (CPU only, same machine, no Redis):")
    for what, seconds in phases.items():
        print(f"  {what:<44} {seconds:7.2f} s")
    cpu = phases["read CSV"] + phases["validate rows (incl. normalise + hash)"]
    print(f"  {'=> Redis writes and indexes (import - CPU)':<44} {max(took - cpu, 0.0):7.2f} s")
    if stats is not None:
        print()
        stats.sort_stats("tottime").print_stats(15)
        stats.sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import")
    options = parser.parse_args()
    main(options.rows, options.profile)
