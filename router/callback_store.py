"""The callback desk's Redis: callback requests, their attempts, and their place in the router's line.

The only module besides `route_store` that talks to the router's Redis; every change is one script of
`router/lua/callback_*.lua`, a function of the router's own library (route_store.build_library: the prelude
once, then each body), so a request and the router's line change together, atomically, on the same `{sb}`
slot. docs/redis.md gives the keys.

Layout (PREFIX = `sb:{sb}:`):
  sb:{sb}:callback:<rid>     hash: uid number customer lang order max_attempts retry_after_ms not_before created
                             enq (the caller's ORIGINAL enqueue time, ms) state (scheduled waiting dialing retry
                             done) attempts log ("1:busy,2:answered") outcome (connected failed cancelled) agent
                             r_<field> (the routing fields of the call: skills steps lang base aging pref queue
                             segment); expires a day after it is done
  sb:{sb}:callbacks          set of pending request ids (not done)
  sb:{sb}:callbacks:due      zset rid → time (ms) a scheduled request or a retry joins the line
  sb:{sb}:callbacks:number:<e164>   set of the pending requests to this number (cancelled when it reaches an agent)
  sb:{sb}:call:<rid>         the request's call in the router's line (route_store's layout), owned by the desk
  sb:{sb}:owner:<desk>       the desk's lease; its value is the instance holding the desk
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from switchboard.router.route_store import CALLBACK_SCRIPTS, PREFIX, build_library

P = PREFIX
SCRIPTS = CALLBACK_SCRIPTS
STATES = ("scheduled", "waiting", "dialing", "retry", "done")


def _clean(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\0 "):
        raise ValueError(f"{what} must not contain spaces, CR, LF or NUL")
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True)
class CallbackRecord:
    """A request as stored: who to call, its routing, its state and attempts so far."""

    id: str
    uid: str
    number: str
    customer: str
    queue: str
    skills: str
    language: str
    order: str
    state: str
    attempts: int
    max_attempts: int
    retry_after: float
    enqueued_ms: int
    not_before_ms: int
    log: str
    outcome: str
    agent: str

    @property
    def attempt_outcomes(self) -> list[tuple[int, str]]:
        """(attempt number, outcome) of each attempt so far."""
        out = []
        for entry in self.log.split(","):
            number, _, outcome = entry.partition(":")
            if number.isdigit():
                out.append((int(number), outcome))
        return out


class CallbackStore:
    """Scripts registered once; each method is one atomic step (or one read)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        library = build_library()
        self._take = library.function("callback_take", redis)
        self._enter = library.function("callback_enter", redis)
        self._attempt = library.function("callback_attempt", redis)
        self._result = library.function("callback_result", redis)
        self._cancel = library.function("callback_cancel", redis)
        self._claim = library.function("callback_claim", redis)
        self._release = library.function("callback_release", redis)

    async def take(self, uid: str, rid: str, desk: str, number: str, customer: str, language: str, order: str,
                   max_attempts: int, retry_after: float, not_before_ms: int) -> int:
        """The waiting call `uid` becomes request `rid` with its place: 1 in line, 2 scheduled, 0 not waiting."""
        return int(await self._take(args=[_clean(uid, "uniqueid"), _clean(rid, "request id"), _clean(desk, "desk"),
                                          _clean(number, "number"), _clean(customer, "customer id"),
                                          _clean(language, "language"), _clean(order, "order"), int(max_attempts),
                                          int(retry_after * 1000), int(not_before_ms)]))

    async def enter(self, rid: str, desk: str) -> int:
        """A pending request joins the line with its original time: 1 entered, 2 already in line, 0 not now."""
        return int(await self._enter(args=[_clean(rid, "request id"), _clean(desk, "desk")]))

    async def begin_attempt(self, rid: str, agent: str, attempts_so_far: int) -> int:
        """waiting → dialing, counting the attempt, only if nobody did yet: the attempt number, or 0."""
        return int(await self._attempt(args=[_clean(rid, "request id"), _clean(agent, "agent"), attempts_so_far]))

    async def end_attempt(self, rid: str, attempt: int, outcome: str, counts: bool = True) -> str:
        """Records how an attempt ended; returns the request's state after it (done, retry, waiting)."""
        return _text(await self._result(args=[_clean(rid, "request id"), attempt, _clean(outcome, "outcome"),
                                              "1" if counts else "0"]))

    async def cancel_for(self, number: str) -> list[str]:
        """The customer reached an agent: their pending requests end as cancelled; returns their ids."""
        return [_text(r) for r in await self._cancel(args=[_clean(number, "number")])]

    async def claim(self, desk: str, holder: str, lease: float) -> bool:
        """Takes or renews the desk's lease for `lease` seconds; False when another instance holds it."""
        return bool(int(await self._claim(args=[_clean(desk, "desk"), _clean(holder, "instance id"),
                                                max(1, int(lease * 1000))])))

    async def release(self, desk: str, holder: str) -> bool:
        """Ends the desk's lease now if `holder` has it (a graceful stop)."""
        return bool(int(await self._release(args=[_clean(desk, "desk"), _clean(holder, "instance id")])))

    async def pending(self) -> list[str]:
        """Ids of every request not done."""
        return sorted(_text(r) for r in await self._redis.smembers(P + "callbacks"))

    async def due(self) -> list[str]:
        """Scheduled requests and retries whose time has come (by Redis time)."""
        seconds, micros = await self._redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return [_text(r) for r in await self._redis.zrangebyscore(P + "callbacks:due", "-inf", now_ms)]

    async def get(self, rid: str) -> CallbackRecord | None:
        h = {_text(k): _text(v) for k, v in (await self._redis.hgetall(P + "callback:" + rid)).items()}
        if not h:
            return None

        def number(name: str) -> int:
            value = h.get(name, "0")
            return int(value) if value.lstrip("-").isdigit() else 0
        return CallbackRecord(rid, h.get("uid", ""), h.get("number", ""), h.get("customer", ""),
                              h.get("r_queue", ""), h.get("r_skills", ""), h.get("r_lang", ""),
                              h.get("order", ""), h.get("state", ""), number("attempts"), number("max_attempts"),
                              number("retry_after_ms") / 1000, number("enq"), number("not_before"),
                              h.get("log", ""), h.get("outcome", ""), h.get("agent", ""))
