"""The customer store in Redis: customers, their phone and account indexes, contacts and verification secrets.

Only this module talks to Redis about customers. Layout (one hash per customer, two indexes):

* `switchboard:customer:{id}` — hash: id, name, segment, language, account, phones (E.164, comma-separated),
  secret (`v1$salt$mac`, never the secret itself), open_cases, recent_contacts, self_service (JSON lists);
* `switchboard:phone:{e164}` — set of customer ids (a number shared by several customers is ambiguous);
* `switchboard:account:{account}` — the customer id.

A customer and its index entries are written by one Lua script, so a reader never sees half a customer and a
re-import that changes a customer's phones removes the stale index entries atomically (no read-then-write race
between two importers); contact history a re-import does not carry is kept.

Verification secrets are short digit strings: no amount of key stretching protects 10^6 possibilities from an
offline guesser, so the hash is an HMAC-SHA256 keyed with a pepper that lives outside Redis (a file or the
environment), over a per-customer salt and the secret. Stealing Redis alone reveals nothing; online guessing is
limited by the verify node's attempts.
"""
from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Mapping, Sequence

import redis.asyncio as redis_async

from switchboard.cti.call_context_store import StoreUnavailable

PREFIX = "switchboard"
LIST_FIELDS = ("open_cases", "recent_contacts", "self_service")
MAX_RECENT = 20


@dataclass(frozen=True)
class Customer:
    """One customer as the rest of the code sees it (no secret material)."""

    id: str
    name: str
    segment: str
    language: str = ""
    account: str = ""
    phones: tuple[str, ...] = ()
    open_cases: tuple[Any, ...] = ()
    recent_contacts: tuple[Any, ...] = ()
    self_service: tuple[Any, ...] = ()

    def summary(self) -> dict[str, Any]:
        """What a screen pop shows about the customer."""
        return {"id": self.id, "name": self.name, "segment": self.segment, "language": self.language,
                "account": self.account, "open_cases": list(self.open_cases),
                "recent_contacts": list(self.recent_contacts)[-5:]}


@dataclass(frozen=True)
class CustomerRecord:
    """A customer to write: the customer plus the hashed secret (or none)."""

    customer: Customer
    secret_hash: str | None = None


def hash_secret(secret: str, pepper: bytes, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    mac = hmac.new(pepper, salt + secret.encode(), "sha256").hexdigest()
    return f"v1${salt.hex()}${mac}"


def check_secret(secret: str, stored: str, pepper: bytes) -> bool:
    try:
        version, salt_hex, _ = stored.split("$")
    except ValueError:
        return False
    if version != "v1":
        return False
    return hmac.compare_digest(hash_secret(secret, pepper, bytes.fromhex(salt_hex)), stored)


# One customer and its indexes, atomically: index entries the customer no longer has are removed, a re-import
# keeps the contact history it does not carry, and the secret hash is kept unless a new one is given.
WRITE_CUSTOMER = r"""
local key, prefix, id = KEYS[1], ARGV[1], ARGV[2]
local account, phones = ARGV[6], ARGV[7]
local old = redis.call('HMGET', key, 'phones', 'account')
local keep = {}
for p in string.gmatch(phones, '[^,]+') do keep[p] = true end
if old[1] then
  for p in string.gmatch(old[1], '[^,]+') do
    if not keep[p] then redis.call('SREM', prefix .. ':phone:' .. p, id) end
  end
end
if old[2] and old[2] ~= '' and old[2] ~= account and redis.call('GET', prefix .. ':account:' .. old[2]) == id then
  redis.call('DEL', prefix .. ':account:' .. old[2])
end
redis.call('HSET', key, 'id', id, 'name', ARGV[3], 'segment', ARGV[4], 'language', ARGV[5], 'account', account,
           'phones', phones, 'open_cases', ARGV[8])
for i, name in ipairs({'recent_contacts', 'self_service'}) do
  if ARGV[8 + i] ~= '' then redis.call('HSET', key, name, ARGV[8 + i]) else redis.call('HSETNX', key, name, '[]') end
end
if ARGV[11] ~= '' then redis.call('HSET', key, 'secret', ARGV[11]) end
for p in pairs(keep) do redis.call('SADD', prefix .. ':phone:' .. p, id) end
if account ~= '' then redis.call('SET', prefix .. ':account:' .. account, id) end
return 1
"""


@dataclass
class CustomerStore:
    """Reads and writes customers; every Redis error surfaces as StoreUnavailable."""

    client: redis_async.Redis
    pepper: bytes = field(repr=False, default=b"")

    @classmethod
    def from_url(cls, url: str, timeout: float, pepper: bytes = b"") -> CustomerStore:
        return cls(redis_async.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                        decode_responses=True), pepper)

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def _key(kind: str, value: str) -> str:
        return f"{PREFIX}:{kind}:{value}"

    async def write(self, records: Sequence[CustomerRecord]) -> None:
        """Writes customers, each with its indexes in one atomic script (pipelined: one round trip per call)."""
        try:
            script = self.client.register_script(WRITE_CUSTOMER)
            async with self.client.pipeline(transaction=False) as pipe:
                for record in records:
                    c = record.customer
                    await script(keys=[self._key("customer", c.id)], client=pipe, args=[
                        PREFIX, c.id, c.name, c.segment, c.language, c.account, ",".join(c.phones),
                        json.dumps(list(c.open_cases)),
                        json.dumps(list(c.recent_contacts)) if c.recent_contacts else "",
                        json.dumps(list(c.self_service)) if c.self_service else "",
                        record.secret_hash or ""])
                await pipe.execute()
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def get(self, customer_id: str) -> Customer | None:
        try:
            row = await self.client.hgetall(self._key("customer", customer_id))
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return _customer(row) if row else None

    async def find_by_phone(self, e164: str) -> list[Customer]:
        """Every customer with this number (0, 1, or several: ambiguous)."""
        try:
            ids = await self.client.smembers(self._key("phone", e164))
            if not ids:
                return []
            async with self.client.pipeline(transaction=False) as pipe:
                for cid in sorted(ids):
                    pipe.hgetall(self._key("customer", cid))
                rows = await pipe.execute()
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return [_customer(row) for row in rows if row]

    async def find_by_account(self, account: str) -> Customer | None:
        try:
            cid = await self.client.get(self._key("account", account))
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return await self.get(cid) if cid else None

    async def verify(self, customer_id: str, secret: str) -> bool:
        """True when the secret matches the customer's stored hash (False when none is stored)."""
        try:
            stored = await self.client.hget(self._key("customer", customer_id), "secret")
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return bool(stored) and bool(self.pepper) and check_secret(secret, stored, self.pepper)

    async def add_contact(self, customer_id: str, contact: Mapping[str, Any], field_name: str = "recent_contacts") -> None:
        """Appends to a customer's recent contacts or self-service history (the newest MAX_RECENT are kept)."""
        key = self._key("customer", customer_id)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        current = json.loads(await pipe.hget(key, field_name) or "[]")
                        pipe.multi()
                        pipe.hset(key, field_name, json.dumps((current + [dict(contact)])[-MAX_RECENT:]))
                        await pipe.execute()
                        return
                    except redis_async.WatchError:
                        continue
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def scan(self, batch: int = 1000) -> AsyncIterator[tuple[Customer, str | None]]:
        """Every customer with its secret hash (for export), in no particular order."""
        try:
            async for key in self.client.scan_iter(match=self._key("customer", "*"), count=batch):
                row = await self.client.hgetall(key)
                if row:
                    yield _customer(row), row.get("secret") or None
        except redis_async.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from exc


def _customer(row: Mapping[str, str]) -> Customer:
    def listed(name: str) -> tuple[Any, ...]:
        try:
            return tuple(json.loads(row.get(name) or "[]"))
        except json.JSONDecodeError:
            return ()
    return Customer(id=row["id"], name=row.get("name", ""), segment=row.get("segment", ""),
                    language=row.get("language", ""), account=row.get("account", ""),
                    phones=tuple(p for p in row.get("phones", "").split(",") if p),
                    open_cases=listed("open_cases"), recent_contacts=listed("recent_contacts"),
                    self_service=listed("self_service"))


def chunks(items: Iterable[CustomerRecord], size: int) -> Iterable[list[CustomerRecord]]:
    batch: list[CustomerRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
