"""Everything CTI keeps in Redis: the customer directory, call-context records, FCR contacts, screen-pop messages.

The only cti module that imports redis. Its callers (recognition, customer import, repeat-contact counting, screen
pops, the IVR through its ports) see typed methods only; every Redis failure or an answer later than the client's
socket timeout surfaces as StoreUnavailable, so a slow or absent Redis never holds a caller up. The client is the
process's one shared client (built by the composition root: a blocking pool, socket timeouts, no task per
operation). Lua lives in `cti/lua/<name>.lua`, built once at start as `local P = '<CUSTOMER_PREFIX>'` + the
script's body.

A call costs the store two round trips: `open_call` (the caller's number looked up and the call's first record
written, pipelined) and `close_call` (the final record, a known customer's self-service entry and the FCR contact,
pipelined); the before-connect record (`save_call`) is a third, or travels in the router's offer trip as a step
(`save_call_step`) when a route node offers the call. Screen pops read records and customers in batches
(`read_calls_with_customers`: two pipelined round trips per batch of pops).

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

import json
from json.encoder import encode_basestring
from dataclasses import dataclass
from importlib import resources
from typing import Any, AsyncIterator, Awaitable, Mapping, Sequence, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from switchboard.redislane.trip_lane import Command, TripLane
from switchboard.cti.call_context import CALL_STATES, MAX_RECORDED_PATH, CallContext, CallState
from switchboard.cti.customer import MAX_RECENT, Customer, CustomerRecord, check_secret
from switchboard.cti.recent_calls import RecentCalls
from switchboard.cti.repeat_contacts import ContactEntry

CUSTOMER_PREFIX = "sb:{cust}:"
CALL_PREFIX = "sb:call:"
FCR_PREFIX = "sb:fcr:"
SCREEN_POP_CHANNEL = "sb:screenpop"
CALL_TTL_SECONDS = 24 * 3600
SCRIPTS = ("write_customer", "record_contact", "find_phone", "save_call", "append_history")

# Legacy string forms of the call record's list fields (written by `record`, the temporary compatibility path)
LEGACY_PATH_SEPARATOR = " > "
LEGACY_INTENT_SEPARATOR = ","

T = TypeVar("T")
ScriptStep = tuple[Any, list[str], list[Any]]  # a registered script, its keys, its arguments


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


@dataclass(frozen=True)
class HistoryEntry:
    """One entry appended to a customer's JSON list field (`recent_contacts` or `self_service`)."""

    customer_id: str
    entry: Mapping[str, Any]
    field_name: str = "self_service"


class CtiStore:
    """CTI's Redis on the process's shared client (its socket timeout bounds every operation)."""

    def __init__(self, client: aioredis.Redis, pepper: bytes = b"", *, owns_client: bool = False,
                 recent: RecentCalls | None = None) -> None:
        """`recent`, when given, is told every call record this store writes and the customer a call's opening
        look-up found (screen pops of this process's calls then read neither: cti/recent_calls.py)."""
        self._client = client
        self._recent = recent
        self._pepper = pepper
        self._owns_client = owns_client
        self._lane = TripLane(client)
        scripts = build_scripts()
        self._write_customer = client.register_script(scripts["write_customer"])
        self._record_contact = client.register_script(scripts["record_contact"])
        self._find_phone = client.register_script(scripts["find_phone"])
        self._save_call = client.register_script(scripts["save_call"])
        self._append_history = client.register_script(scripts["append_history"])

    @classmethod
    def from_url(cls, url: str, timeout: float, pepper: bytes = b"") -> CtiStore:
        """A store on a client of its own for `url` (CLI tools; socket timeouts at `timeout`); closed with it."""
        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                         health_check_interval=30)
        return cls(client, pepper, owns_client=True)

    async def close(self) -> None:
        """Closes the client when this store built it (a shared client is closed by whoever built it)."""
        await self._lane.close()
        if self._owns_client:
            await self._client.aclose()

    async def _bounded(self, operation: Awaitable[T]) -> T:
        """Redis trouble (including the socket timeout and a pool that stayed full) as StoreUnavailable."""
        try:
            return await operation
        except (RedisError, OSError) as exc:
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
        """Every customer with this number (0, 1, or several: ambiguous), in one round trip."""
        rows = await self._bounded(self._find_phone(keys=[phone_key(e164)]))
        return [_customer(_pairs(row)) for row in rows]

    async def open_call(self, e164: str | None, ctx: CallContext) -> list[Customer]:
        """A call's start in one round trip: the customers with the caller's number (none when `e164` is None)
        and the call's first context record (written whatever the lookup finds). The customers come without their
        contact histories (`recent_contacts`, `self_service` empty): the call path never reads them, and decoding
        their JSON was most of the look-up's cost; `get` and `find_by_phone` return them whole."""
        if e164 is None:
            await self.save_call(ctx)
            return []
        rows, saved = await self._bounded(self._together([
            (self._find_phone, [phone_key(e164)], []), self.save_call_step(ctx)]))
        _raise_failed([rows, saved])
        customers = [_call_customer(row) for row in rows]
        if self._recent is not None and len(customers) == 1:  # whole (with its histories) only if a pop asks
            row = rows[0]
            self._recent.note_customer(ctx.uniqueid, customers[0].id, lambda: _customer(_pairs(row)))
        return customers

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
        """Appends to a known customer's recent contacts or self-service history (the newest MAX_RECENT are
        kept; one atomic script, nothing written for an unknown id)."""
        entry = HistoryEntry(customer_id, contact, field_name)
        await self._bounded(self._append_history(keys=[customer_key(customer_id)], args=_history_args(entry)))

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
        """Replaces the call's whole record and pushes its expiry back, atomically, in one round trip."""
        _raise_failed(await self._bounded(self._together([self.save_call_step(ctx)])))

    def save_call_step(self, ctx: CallContext) -> ScriptStep:
        """`save_call` as a script step (script, keys, args) for a round trip another store makes: the router sends
        the record before ringing in the same pipeline as the call's offer. Every record write comes through here
        (noted in `recent`)."""
        if self._recent is not None:
            self._recent.note_record(ctx)
        return self._save_call, [call_key(ctx.uniqueid)], _save_call_args(ctx)

    async def _together(self, steps: Sequence[ScriptStep]) -> list[Any]:
        """Scripts by SHA in one round trip on the trip lane; replies in order, a failed step's reply is its
        exception. A step Redis did not know (restarted, flushed) is loaded and sent again, alone (a second trip:
        SCRIPT LOAD then EVALSHA), so nothing runs twice."""
        replies = await self._lane.run([evalsha(step) for step in steps])
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                replies[i] = (await self._lane.run([("SCRIPT", "LOAD", steps[i][0].script), evalsha(steps[i])]))[1]
        return replies

    async def close_call(self, ctx: CallContext, history: HistoryEntry | None,
                         contact: ContactEntry | None) -> tuple[str, str, str] | None:
        """A call's end in one round trip: its final record, a known customer's history entry and its FCR
        contact (each an atomic script in its own slot, pipelined). Returns the earlier contact this one repeats
        (as `record_contact`). The record and the history are written even when the contact fails; any failure
        raises StoreUnavailable after the others were sent."""
        steps = [self.save_call_step(ctx)]
        if history is not None:
            steps.append((self._append_history, [customer_key(history.customer_id)], _history_args(history)))
        if contact is not None:
            steps.append((self._record_contact, [contact_prefix(contact.caller_key) + "contacts"],
                          _contact_args(contact)))
        replies = await self._bounded(self._together(steps))
        _raise_failed(replies)
        return _earlier(replies[-1]) if contact is not None else None

    async def read_call(self, uniqueid: str) -> CallContext | None:
        """The call's record, or None when it is unknown (never written, or expired)."""
        row = _texts(await self._bounded(self._client.hgetall(call_key(uniqueid))))
        return _decode_call(uniqueid, row) if row else None

    async def read_calls_with_customers(self, uniqueids: Sequence[str]
                                        ) -> list[tuple[CallContext | None, Customer | None]]:
        """Screen pops' read: each call's record (None when unknown) and the customer it names, for any number
        of calls in two round trips on the trip lane (the records, then their distinct customers: they live in other
        cluster slots, so no one script may read both)."""
        if not uniqueids:
            return []
        rows = await self._bounded(self._lane.run([("HGETALL", call_key(uid)) for uid in uniqueids]))
        _raise_failed(rows)
        calls = [_decode_call(uid, _hash(row)) if row else None for uid, row in zip(uniqueids, rows)]
        wanted = list(dict.fromkeys(c.customer_id for c in calls if c is not None and c.customer_id))
        customers: dict[str, Customer] = {}
        if wanted:
            found = await self._bounded(self._lane.run([("HGETALL", customer_key(cid)) for cid in wanted]))
            _raise_failed(found)
            customers = {cid: _customer(_hash(row)) for cid, row in zip(wanted, found) if row}
        return [(c, customers.get(c.customer_id) if c is not None and c.customer_id else None) for c in calls]

    # --- first-contact resolution -----------------------------------------------------------------------------

    async def record_contact(self, caller_key: str, uniqueid: str, at: float, window_seconds: float,
                             same_intent: bool, intent: str, queue: str, segment: str,
                             flow: str) -> tuple[str, str, str] | None:
        """Adds a caller's contact; returns (queue, segment, flow) of the earlier contact within the window it
        repeats (marked repeated now, so it is returned once), if any."""
        entry = ContactEntry(caller_key, uniqueid, at, window_seconds, same_intent, intent, queue, segment, flow)
        found = await self._bounded(self._record_contact(keys=[contact_prefix(caller_key) + "contacts"],
                                                         args=_contact_args(entry)))
        return _earlier(found)

    # --- screen pops ------------------------------------------------------------------------------------------

    async def publish_screen_pop(self, payload: str) -> int:
        """Publishes one screen-pop payload (JSON) for integrations; returns how many subscribers got it."""
        return int(await self._bounded(self._client.publish(SCREEN_POP_CHANNEL, payload)))


def evalsha(step: ScriptStep) -> Command:
    """A script step as the EVALSHA command a trip sends."""
    script, keys, args = step
    return ("EVALSHA", script.sha, len(keys), *keys, *args)


def _raise_failed(replies: Sequence[Any]) -> None:
    failed = next((r for r in replies if isinstance(r, Exception)), None)
    if failed is not None:
        raise StoreUnavailable(type(failed).__name__) from failed


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _texts(row: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in row.items()}


def _hash(reply: Mapping[Any, Any] | Sequence[Any]) -> dict[str, str]:
    """An HGETALL reply as texts: a map on a RESP3 connection (redis-py 8's default), a flat array on RESP2."""
    return _texts(reply) if isinstance(reply, Mapping) else _pairs(reply)


def _pairs(row: Sequence[Any]) -> dict[str, str]:
    """A flat HGETALL reply (field value field value ...) as a dict of texts."""
    return {_text(row[i]): _text(row[i + 1]) for i in range(0, len(row) - 1, 2)}


def _save_call_args(ctx: CallContext) -> list[Any]:
    return [CALL_TTL_SECONDS, *_encode_call(ctx)]


def _history_args(history: HistoryEntry) -> list[Any]:
    return [history.field_name, json.dumps(dict(history.entry)), MAX_RECENT]


def _contact_args(c: ContactEntry) -> list[Any]:
    prefix = contact_prefix(c.caller_key)
    return [prefix, c.uniqueid, c.at, c.window_seconds, "1" if c.same_intent else "0", c.intent, c.queue,
            c.segment, c.flow]


def _earlier(found: Any) -> tuple[str, str, str] | None:
    """record_contact.lua's reply: the earlier contact's (queue, segment, flow), or None."""
    if not found:
        return None
    queue, segment, flow = (_text(v) for v in found)
    return queue, segment, flow


def _json_list(items: Sequence[str]) -> str:
    """json.dumps(list(items), ensure_ascii=False), written out for a list of texts: the same text, without building
    an encoder per call (json's own string quoting does each item)."""
    return "[" + ", ".join(map(encode_basestring, items)) + "]" if items else "[]"


HISTORY_FIELDS = (b"recent_contacts", b"self_service")


def _call_customer(row: Sequence[Any]) -> Customer:
    """A flat HGETALL reply as a Customer without its contact histories (neither decoded nor parsed)."""
    fields = {_text(row[i]): _text(row[i + 1]) for i in range(0, len(row) - 1, 2) if row[i] not in HISTORY_FIELDS}
    return _customer(fields)


def _customer(row: Mapping[str, str]) -> Customer:
    def listed(name: str) -> tuple[Any, ...]:
        raw = row.get(name)
        if not raw or raw == "[]":  # (most customers: nothing to parse)
            return ()
        try:
            return tuple(json.loads(raw))
        except json.JSONDecodeError:
            return ()
    return Customer(id=row["id"], name=row.get("name", ""), segment=row.get("segment", ""),
                    language=row.get("language", ""), account=row.get("account", ""),
                    phones=tuple(p for p in row.get("phones", "").split(",") if p),
                    open_cases=listed("open_cases"), recent_contacts=listed("recent_contacts"),
                    self_service=listed("self_service"))


def _encode_call(ctx: CallContext) -> list[str]:
    """The record as hash fields, as HSET's field value field value ... arguments: text as is, None as "",
    started_at exact, path (bounded) and intents as JSON."""
    return ["state", ctx.state, "flow", ctx.flow, "dialplan_version", ctx.dialplan_version, "caller", ctx.caller,
            "dnid", ctx.dnid, "started_at", repr(float(ctx.started_at)), "recognition", ctx.recognition,
            "customer_id", ctx.customer_id or "", "segment", ctx.segment, "confidence", ctx.confidence,
            "last_node", ctx.last_node, "path", _json_list(ctx.path[-MAX_RECORDED_PATH:]),
            "intents", _json_list(ctx.intents), "language", ctx.language, "queue", ctx.queue or "",
            "agent", ctx.agent or "", "outcome", ctx.outcome or "", "destination", ctx.destination or ""]


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
