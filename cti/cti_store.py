"""Everything CTI keeps in Redis: the customer directory, call-context records, FCR contacts, screen-pop messages.

The only cti module that imports redis. Its callers (recognition, customer import, repeat-contact counting, screen
pops, the IVR through its ports) see typed methods only; every Redis failure or an answer later than the store's
time budget surfaces as StoreUnavailable, so a slow or absent Redis never holds a caller up. Lua lives in
`cti/lua/<name>.lua`, built once at start as `local P = '<CUSTOMER_PREFIX>'` + the script's body.

Key layout (every name starts `sb:`; the part in braces is the Redis Cluster hash tag, so each Lua script touches
keys of one slot only; docs/redis.md lists the router's keys too):

| key | type | holds | expiry |
|---|---|---|---|
| `sb:{cust}:customer:<id>` | hash | id name segment language account phones(E.164, comma-separated) secret(`v1$salt$mac`) open_cases recent_contacts self_service (JSON lists) | none |
| `sb:{cust}:phone:<e164>` | set | ids of the customers with this number (several: ambiguous) | none |
| `sb:{cust}:account:<account>` | string | the customer id | none |
| `sb:call:{<uniqueid>}` | hash | the CallContext (see `_encode_call`): path and intents as JSON lists | 1 day after the last write |
| `sb:fcr:{<caller key>}:contacts` | zset | uniqueid → contact time (s) | the FCR window |
| `sb:fcr:{<caller key>}:<uniqueid>` | hash | queue segment flow intent repeated(0/1) | the FCR window |
| channel `sb:screenpop` | pub/sub | one JSON screen-pop payload per message | — |

The customer directory shares one hash tag (`{cust}`) because one script updates a customer and its phone and
account indexes atomically; a call's record and a caller's contacts each have their own slot.
"""
from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any, AsyncIterator, Awaitable, Mapping, Sequence, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from switchboard.cti.call_context import CALL_STATES, MAX_RECORDED_PATH, CallContext, CallState
from switchboard.cti.customer import MAX_RECENT, Customer, CustomerRecord, check_secret

CUSTOMER_PREFIX = "sb:{cust}:"
CALL_PREFIX = "sb:call:"
FCR_PREFIX = "sb:fcr:"
SCREEN_POP_CHANNEL = "sb:screenpop"
CALL_TTL_SECONDS = 24 * 3600
SCRIPTS = ("write_customer", "record_contact")

# Legacy string forms of the call record's list fields (written by `record`, the temporary compatibility path)
LEGACY_PATH_SEPARATOR = " > "
LEGACY_INTENT_SEPARATOR = ","

T = TypeVar("T")


class StoreUnavailable(Exception):
    """Redis did not answer within the budget or refused the operation."""


def lua_source(name: str) -> str:
    """The text of `cti/lua/<name>.lua`, read from the installed package."""
    return resources.files("switchboard.cti").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def build_scripts() -> dict[str, str]:
    """Each script as Redis runs it: the customer-directory prefix, then the script's body."""
    head = f"local P = '{CUSTOMER_PREFIX}'\n"
    return {name: head + lua_source(name) for name in SCRIPTS}


def customer_key(customer_id: str) -> str:
    return f"{CUSTOMER_PREFIX}customer:{customer_id}"


def phone_key(e164: str) -> str:
    return f"{CUSTOMER_PREFIX}phone:{e164}"


def account_key(account: str) -> str:
    return f"{CUSTOMER_PREFIX}account:{account}"


def call_key(uniqueid: str) -> str:
    return f"{CALL_PREFIX}{{{uniqueid}}}"


def contact_prefix(caller_key: str) -> str:
    return f"{FCR_PREFIX}{{{caller_key}}}:"


class CtiStore:
    """CTI's Redis, within a time budget per operation; one client shared by every kind of record."""

    def __init__(self, client: aioredis.Redis, timeout: float, pepper: bytes = b"") -> None:
        self._client = client
        self._timeout = timeout
        self._pepper = pepper
        scripts = build_scripts()
        self._write_customer = client.register_script(scripts["write_customer"])
        self._record_contact = client.register_script(scripts["record_contact"])

    @classmethod
    def from_url(cls, url: str, timeout: float, pepper: bytes = b"") -> CtiStore:
        """A store on its own client for `url` (socket timeouts at the budget)."""
        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                         decode_responses=True, health_check_interval=30)
        return cls(client, timeout, pepper)

    async def close(self) -> None:
        await self._client.aclose()

    async def _bounded(self, operation: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(operation, self._timeout)
        except (asyncio.TimeoutError, RedisError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def ping(self) -> bool:
        """True when Redis answers within the budget."""
        try:
            return bool(await self._bounded(self._client.ping()))
        except StoreUnavailable:
            return False

    # --- the customer directory -------------------------------------------------------------------------------

    async def write(self, records: Sequence[CustomerRecord]) -> None:
        """Writes customers, each with its indexes in one atomic script (pipelined: one round trip per call)."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for record in records:
                    c = record.customer
                    await self._write_customer(keys=[customer_key(c.id)], client=pipe, args=[
                        c.id, c.name, c.segment, c.language, c.account, ",".join(c.phones),
                        json.dumps(list(c.open_cases)),
                        json.dumps(list(c.recent_contacts)) if c.recent_contacts else "",
                        json.dumps(list(c.self_service)) if c.self_service else "",
                        record.secret_hash or ""])
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def get(self, customer_id: str) -> Customer | None:
        """The customer with this id, if any."""
        row = _texts(await self._bounded(self._client.hgetall(customer_key(customer_id))))
        return _customer(row) if row else None

    async def find_by_phone(self, e164: str) -> list[Customer]:
        """Every customer with this number (0, 1, or several: ambiguous)."""
        async def lookup() -> list[Any]:
            ids = await self._client.smembers(phone_key(e164))
            if not ids:
                return []
            async with self._client.pipeline(transaction=False) as pipe:
                for cid in sorted(_text(i) for i in ids):
                    pipe.hgetall(customer_key(cid))
                return list(await pipe.execute())
        rows = await self._bounded(lookup())
        return [_customer(_texts(row)) for row in rows if row]

    async def find_by_account(self, account: str) -> Customer | None:
        """The customer holding this account number, if any."""
        cid = await self._bounded(self._client.get(account_key(account)))
        return await self.get(_text(cid)) if cid else None

    async def verify(self, customer_id: str, secret: str) -> bool:
        """True when the secret matches the customer's stored hash (False when none is stored)."""
        stored = _text(await self._bounded(self._client.hget(customer_key(customer_id), "secret")))
        return bool(stored) and bool(self._pepper) and check_secret(secret, stored, self._pepper)

    async def add_contact(self, customer_id: str, contact: Mapping[str, Any],
                          field_name: str = "recent_contacts") -> None:
        """Appends to a customer's recent contacts or self-service history (the newest MAX_RECENT are kept)."""
        key = customer_key(customer_id)

        async def append() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        current = json.loads(_text(await pipe.hget(key, field_name)) or "[]")
                        pipe.multi()
                        pipe.hset(key, field_name, json.dumps((current + [dict(contact)])[-MAX_RECENT:]))
                        await pipe.execute()
                        return
                    except WatchError:
                        continue
        await self._bounded(append())

    async def scan(self, batch: int = 1000) -> AsyncIterator[tuple[Customer, str | None]]:
        """Every customer with its secret hash (for export), in no particular order."""
        try:
            async for key in self._client.scan_iter(match=customer_key("*"), count=batch):
                row = _texts(await self._client.hgetall(key))
                if row:
                    yield _customer(row), row.get("secret") or None
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    # --- call-context records ---------------------------------------------------------------------------------

    async def save_call(self, ctx: CallContext) -> None:
        """Replaces the call's whole record and pushes its expiry back, in one round trip."""
        key = call_key(ctx.uniqueid)

        async def write() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, items=_flat(_encode_call(ctx)))
                pipe.expire(key, CALL_TTL_SECONDS)
                await pipe.execute()
        await self._bounded(write())

    async def read_call(self, uniqueid: str) -> CallContext | None:
        """The call's record, or None when it is unknown (never written, or expired)."""
        row = _texts(await self._bounded(self._client.hgetall(call_key(uniqueid))))
        return _decode_call(uniqueid, row) if row else None

    # --- first-contact resolution -----------------------------------------------------------------------------

    async def record_contact(self, caller_key: str, uniqueid: str, at: float, window_seconds: float,
                             same_intent: bool, intent: str, queue: str, segment: str,
                             flow: str) -> tuple[str, str, str] | None:
        """Adds a caller's contact; returns (queue, segment, flow) of the earlier contact within the window it
        repeats (marked repeated now, so it is returned once), if any."""
        prefix = contact_prefix(caller_key)
        found = await self._bounded(self._record_contact(
            keys=[prefix + "contacts"],
            args=[prefix, uniqueid, at, window_seconds, "1" if same_intent else "0", intent, queue, segment, flow]))
        if not found:
            return None
        queue_, segment_, flow_ = (_text(v) for v in found)
        return queue_, segment_, flow_

    # --- screen pops ------------------------------------------------------------------------------------------

    async def publish_screen_pop(self, payload: str) -> int:
        """Publishes one screen-pop payload (JSON) for integrations; returns how many subscribers got it."""
        return int(await self._bounded(self._client.publish(SCREEN_POP_CHANNEL, payload)))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _texts(row: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in row.items()}


def _flat(fields: Mapping[str, str]) -> list[str]:
    """Hash fields as HSET's field value field value ... arguments."""
    return [part for pair in fields.items() for part in pair]


def _json_list(items: Sequence[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


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


def _encode_call(ctx: CallContext) -> dict[str, str]:
    """The record as hash fields: text as is, None as "", started_at exact, path (bounded) and intents as JSON."""
    return {"state": ctx.state, "flow": ctx.flow, "dialplan_version": ctx.dialplan_version, "caller": ctx.caller,
            "dnid": ctx.dnid, "started_at": repr(float(ctx.started_at)), "recognition": ctx.recognition,
            "customer_id": ctx.customer_id or "", "segment": ctx.segment, "confidence": ctx.confidence,
            "last_node": ctx.last_node, "path": _json_list(ctx.path[-MAX_RECORDED_PATH:]),
            "intents": _json_list(ctx.intents), "language": ctx.language, "queue": ctx.queue or "",
            "agent": ctx.agent or "", "outcome": ctx.outcome or "", "destination": ctx.destination or ""}


def _decode_call(uniqueid: str, row: Mapping[str, str]) -> CallContext:
    def listed(name: str, legacy_separator: str) -> tuple[str, ...]:
        raw = row.get(name, "")
        try:
            items = json.loads(raw) if raw else []
        except json.JSONDecodeError:
            items = raw.split(legacy_separator)
        return tuple(str(i) for i in items if i) if isinstance(items, list) else ()

    def started() -> float:
        try:
            return float(row.get("started_at") or 0.0)
        except ValueError:
            return 0.0
    state: CallState = next((s for s in CALL_STATES if s == row.get("state")), "ivr")
    return CallContext(
        uniqueid=uniqueid, state=state, flow=row.get("flow", ""), dialplan_version=row.get("dialplan_version", ""),
        caller=row.get("caller", ""), dnid=row.get("dnid", ""), started_at=started(),
        recognition=row.get("recognition", ""), customer_id=row.get("customer_id") or None,
        segment=row.get("segment", ""), confidence=row.get("confidence") or "none",
        last_node=row.get("last_node", ""), path=listed("path", LEGACY_PATH_SEPARATOR),
        intents=listed("intents", LEGACY_INTENT_SEPARATOR), language=row.get("language", ""),
        queue=row.get("queue") or None, agent=row.get("agent") or None, outcome=row.get("outcome") or None,
        destination=row.get("destination") or None)
