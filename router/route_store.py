"""The router's Redis: agents, waiting calls and reservations, changed only through the Lua in `router/lua/`.

The only router module that talks to Redis. Every write is one script call (atomic), so several Switchboard
instances on one Redis never assign one agent twice. Values are checked for control characters before they are
stored (they reach logs, AMI events and the CLI).

Scripts live in `router/lua/<name>.lua`; they are loaded as ONE Redis Functions library (Redis >= 7.0,
redislane/function_library.py): `local P = '<PREFIX>'` + `prelude.lua` (the shared functions) once at its top, then
each script's body as a function of it, called with FCALL, so the key prefix is defined here only and the prelude is
compiled once. Keys all carry the hash tag `{sb}`: one cluster slot, so each script touches only keys of its own
slot and works unchanged on Redis Cluster. Time comes from Redis `TIME`, so several instances share one clock. The
rules mirror router/decision.py (the readable specification; tests compare the two). docs/redis.md gives the key
layout of every package.

Layout (PREFIX = `sb:{sb}:`):
  sb:{sb}:agent:<id>         hash: name endpoint langs(,en,fr,) skills(billing:8,...) s:<skill>=level state reason
                             since idle_since skip_until wrap_until reserved_until call
  sb:{sb}:agents             set of agent ids;  sb:{sb}:states  hash id → state (for counts)
  sb:{sb}:endpoints          hash endpoint → id (AMI events name devices, not agents)
  sb:{sb}:idle:<skill>:<level>:<lang>   zset of available agents with <skill> at exactly <level> speaking <lang>
                             (`*`: every available agent with that skill level), scored idle_since_ms
  sb:{sb}:call:<uid>         hash: skills steps lang base aging enq customer pref queue segment state agent endpoint
                             wq ix (the skill it waits under: the rarest it asks; empty = the first)
  sb:{sb}:wq:<skill>:<level>:<lang>:<class>   zset of waiting calls whose first required skill is <skill> at
                             (relaxed) minimum <level> (or, at level 1, calls relaxation added <skill> to), asking
                             <lang> (`*`: no language). Class = aging rate a, scored a * enq_s - base (lowest first
                             = highest priority at any time), or `0/<base>` without aging, scored enq_ms
  sb:{sb}:wqlines:<skill>    zset of the non-empty wq lines of <skill>, scored with their first call's score
  sb:{sb}:relax, sb:{sb}:relax:<skill>   zset uid → time (ms) of the waiting call's next relaxation step (per
                             skill: the skills whose lines it will be in after it);  sb:{sb}:relaxing  hash
                             uid → "enq base aging skills" (docs/router-indexes.md)
  sb:{sb}:qwait:<queue>      zset uid → enq (live gauges)
  sb:{sb}:offerlog           zset "uid agent" → time (ms) of every reservation, last minute (the sweep's re-check)
  sb:{sb}:reserved, sb:{sb}:wrapping, sb:{sb}:skipping   zsets agent → deadline ms (the sweep's work list)
  sb:{sb}:last:<customer>    the agent who last handled this customer (expires after last_agent_days)
  sb:{sb}:explain:<uid>      list of the last 50 decision explanations (1 day after the first)
  sb:{sb}:credential:<role>:<name>  string: the scrypt hash of an agent's or supervisor's sign-in secret
  channel sb:{sb}:offers     "uid agent" for every reservation made
  sb:{sb}:owner:<instance>   an instance's lease (expires unless its heartbeat renews it)
  sb:{sb}:owners             set of instance ids that own calls;  sb:{sb}:owned:<instance>  set of its call uids
  sb:{sb}:tmp:with_via       zset, only inside a multi-skill call's agent search (deleted before the script returns)
  sb:{sb}:reaping            list "agent uid": agents of dead owners' calls, freed once every dead call is out of line
  sb:{sb}:seeded             sentinel written when agents are seeded (gone: Redis came back empty)
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from switchboard.redislane.channel_feed import channel_messages
from switchboard.redislane.function_library import Function, FunctionLibrary, missing
from switchboard.redislane.trip_lane import Command, TripLane
from switchboard.router.decision import encode_skills, encode_steps
from switchboard.router.device_batch import batches
from switchboard.router.eligible_agents import EligibleAgents, RosterEntry
from switchboard.router.routing_config import AgentSeed, RelaxStep

PREFIX = "sb:{sb}:"
P = PREFIX
OFFERS_CHANNEL = PREFIX + "offers"
SWEEP_BATCH = 20  # agents freed per sweep run (each may read waiting lines): one run stays short
RELAX_BATCH = 5  # due relaxation steps indexed again per sweep run (~12 Redis commands each): one run stays short
REAP_BATCH = 200  # dead owners' calls (or their agents) per reap run
OFFER_LOG_MS = 60_000  # how long `offerlog` keeps a reservation (sweep.lua trims it to this)
SCRIPTS = ("offer_call", "leave_call", "call_done", "ring_no_answer", "agent_device", "agent_devices", "agent_action",
           "sweep", "upsert_agent", "own_call", "heartbeat", "reap_owners", "line_position")
CALLBACK_SCRIPTS = ("callback_take", "callback_enter", "callback_attempt", "callback_result", "callback_cancel",
                    "callback_claim", "callback_release")  # router/callback_store.py's, in the same library
READ_ONLY = ("line_position",)  # the scripts that never write: flagged `no-writes`
LIBRARY = "sb_router"  # the library's name before its hash
STATES = ("logged_out", "available", "reserved", "ringing", "on_call", "wrap_up", "paused")


Along = tuple[AsyncScript, list[str], list[Any]]  # another store's script step (script, keys, args) sent with an offer
Step = tuple[AsyncScript | Function, list[str], list[Any]]  # a step of a trip: a script (EVALSHA) or a function (FCALL)


def lua_source(name: str) -> str:
    """The text of `router/lua/<name>.lua`, read from the installed package."""
    return resources.files("switchboard.router").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def build_library(names: Iterable[str] = SCRIPTS + CALLBACK_SCRIPTS) -> FunctionLibrary:
    """The router's and the callback desk's scripts as Redis runs them: one library, the key prefix and the shared
    prelude at its top, then each script's body as a function (redislane/function_library.py)."""
    head = f"local P = '{PREFIX}'\n" + lua_source("prelude")
    return FunctionLibrary(LIBRARY, head, {name: lua_source(name) for name in names}, READ_ONLY)


def _clean(value: str, what: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:  # (no generator: nine values per offer, every call)
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    return value


@dataclass(frozen=True)
class OfferResult:
    """What offering a call produced: `assigned` (agent, endpoint), `queued`, `overflow`, `offered`, `left`."""

    status: str
    agent: str = ""
    endpoint: str = ""


@dataclass(frozen=True)
class Heartbeat:
    """What a lease renewal saw: is the seeded state there (else Redis came back empty), and one page of the agents'
    states (`cursor`: where the next page starts; "0" = this page ended a full pass)."""

    seeded: bool
    states: dict[str, str]
    cursor: str = "0"


@dataclass(frozen=True)
class Reaped:
    """Calls of dead owners taken out of line, and the calls their freed agents were given."""

    released: int
    assigned: list[str]


@dataclass(frozen=True)
class AgentRecord:
    id: str
    name: str
    endpoint: str
    state: str
    reason: str
    skills: str
    languages: str
    since_ms: int
    call: str


@dataclass(frozen=True)
class QueueSnapshot:
    waiting: dict[str, int]
    oldest_enqueued_ms: dict[str, int]
    agents: dict[str, int]
    now_ms: int


class RouteStore:
    """Scripts registered once; each method is one atomic step."""

    def __init__(self, redis: Redis, reservation_ttl: float = 30.0, roster_ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._eligible = EligibleAgents(roster_ttl, clock)
        self._roster_lock = asyncio.Lock()
        self._ttl_ms = int(reservation_ttl * 1000)
        self._lane = TripLane(redis)
        library = build_library()
        self._offer = library.function("offer_call", redis)
        self._leave = library.function("leave_call", redis)
        self._done = library.function("call_done", redis)
        self._ring_no_answer = library.function("ring_no_answer", redis)
        self._device = library.function("agent_device", redis)
        self._devices = library.function("agent_devices", redis)
        self._action = library.function("agent_action", redis)
        self._sweep = library.function("sweep", redis)
        self._upsert = library.function("upsert_agent", redis)
        self._own = library.function("own_call", redis)
        self._heartbeat = library.function("heartbeat", redis)
        self._reap = library.function("reap_owners", redis)
        self._position = library.function("line_position", redis)

    @property
    def redis(self) -> Redis:
        return self._redis

    async def upsert_agent(self, seed: AgentSeed) -> str:
        langs = "," + ",".join(seed.languages) + ","
        return _text(await self._upsert(args=[_clean(seed.id, "agent id"), _clean(seed.name, "agent name"),
                                              _clean(seed.endpoint, "endpoint"), langs, encode_skills(seed.skills)]))

    async def offer(self, uid: str, skills: dict[str, int], steps: Iterable[RelaxStep], language: str,
                    base: float, aging: float, customer: str, preferred: str, queue: str, segment: str,
                    instance: str = "", index: str = "", along: Sequence[Along] = ()) -> OfferResult:
        """Offers a call: a new one is owned by `instance` and prefers `preferred`, else the customer's last agent
        (read by the script); it waits in the lines of `index` (one of its skills; "" = the first). `along`: other
        stores' script steps (e.g. the call's context record) sent in the same round trip, before the offer, so they
        are written before any agent rings; their failures are not the offer's (replies ignored)."""
        args: list[str | int] = [_clean(uid, "uniqueid"), encode_skills(skills), encode_steps(steps), _clean(language, "language"),
                repr(float(base)), f"{aging:g}", _clean(customer, "customer id"), _clean(preferred, "agent id"),
                _clean(queue, "queue"), _clean(segment, "segment"), self._ttl_ms, _clean(instance, "instance id"),
                _clean(index, "skill")]
        reply = await self._with(along, self._offer, args)
        status, agent = _text(reply[0]), _text(reply[1])
        endpoint = _text(reply[2]) if len(reply) > 2 else ""
        return OfferResult(status, agent, endpoint)

    async def _with(self, along: Sequence[Along], function: Function, args: list[Any]) -> Any:
        """`along` then `function`, in one round trip on the trip lane; returns the function's reply (an error
        reply raises). The `along` steps' failures are not the function's (their replies are ignored)."""
        return _raised((await self._steps([*along, (function, [], list(args))]))[-1])

    async def _steps(self, steps: Sequence[Step]) -> list[Any]:
        """Steps (scripts by SHA, functions by name) in one trip; replies in order, a failed step's reply is its
        exception. A step Redis did not know (restarted, flushed) is loaded and run again, alone and in order
        (nothing runs twice)."""
        replies = await self._lane.run([_command(step) for step in steps])
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError) or missing(reply):
                code = steps[i][0]
                load = code.library.load() if isinstance(code, Function) else ("SCRIPT", "LOAD", code.script)
                try:
                    replies[i] = (await self._lane.run([load, _command(steps[i])]))[1]
                except (RedisError, OSError) as exc:
                    replies[i] = exc
        return replies

    async def close(self) -> None:
        """Hands the trip lane's kept connections back to the pool (the client is closed by whoever built it)."""
        await self._lane.close()

    async def retry(self, uid: str) -> OfferResult:
        """Offers an already-known call again (after a relaxation step or a lost message)."""
        return await self.offer(uid, {}, (), "", 0.0, 0.0, "", "", "", "")  # (a known call: arguments unused)

    async def leave(self, uid: str) -> str | None:
        """The caller left; returns the uid of another call given to the agent this one had reserved, if any."""
        return _text(await self._with((), self._leave, [_clean(uid, "uniqueid"), self._ttl_ms])) or None

    async def call_done(self, uid: str, agent: str, wrap_up: float, customer: str,
                        last_agent_days: float) -> tuple[str, str, str]:
        """A routed call's end in one step: the bridged call with `agent` ended (wrap-up or free), the agent is the
        customer's last agent for `last_agent_days` (none when 0 or no customer), and the call leaves routing.
        Returns (the agent's state, a call given to the agent, a call given to an agent this one still held)."""
        keep = max(1, int(last_agent_days * 86400)) if customer and last_agent_days > 0 else 0
        reply = await self._with((), self._done, [_clean(uid, "uniqueid"), _clean(agent, "agent id"), self._ttl_ms,
                                                  int(wrap_up * 1000), _clean(customer, "customer id"), keep])
        return _text(reply[0]), _text(reply[1]), _text(reply[2])

    async def ring_no_answer(self, uid: str, agent: str, action: str, penalty: float) -> None:
        await self._with((), self._ring_no_answer, [uid, agent, action, int(penalty * 1000), self._ttl_ms])

    async def device(self, agent: str, event: str, wrap_up: float, uid: str = "") -> tuple[str, str]:
        reply = await self._with((), self._device, [agent, event, self._ttl_ms, int(wrap_up * 1000), uid])
        return _text(reply[0]), _text(reply[1])

    async def devices(self, updates: Sequence[tuple[str, str]], wrap_up: float) -> list[tuple[str, str] | Exception]:
        """Many `device` steps (agent, event: ringing | on_call | idle), applied in order: one `agent_devices`
        script call per `MAX_DEVICES` updates, every call in one round trip on the trip lane (a script Redis did not
        know is loaded and run again, alone). One result per update, in order; a failed call's updates get its
        error. Callers fold the updates first (router/device_batch.py)."""
        if not updates:
            return []
        ttl, wrap = str(self._ttl_ms), str(int(wrap_up * 1000))
        runs = batches(updates)
        steps: list[Step] = [(self._devices, [], [ttl, wrap, *(v for update in run for v in update)])
                             for run in runs]
        results: list[tuple[str, str] | Exception] = []
        for run, reply in zip(runs, await self._steps(steps)):
            if isinstance(reply, Exception):
                results.extend(reply for _ in run)
            else:
                results.extend((_text(reply[i]), _text(reply[i + 1])) for i in range(0, 2 * len(run), 2))
        return results

    async def action(self, agent: str, action: str, reason: str = "") -> tuple[str, str]:
        reply = await self._action(args=[_clean(agent, "agent id"), action, _clean(reason, "reason")[:64],
                                         self._ttl_ms])
        return _text(reply[0]), _text(reply[1])

    async def sweep(self, batch: int = SWEEP_BATCH, runs: int = 50, relax_batch: int = RELAX_BATCH) -> list[str]:
        """Deadlines that passed (reservations, wrap-ups, penalties) and due relaxation steps, in short script runs
        of at most `batch` freed agents and `relax_batch` calls indexed again each, repeated while more is due (at
        most `runs`); the uids given to agents. Other clients' commands run between the runs."""
        assigned: list[str] = []
        for _ in range(runs):
            reply = await self._sweep(args=[self._ttl_ms, batch, relax_batch])
            assigned += [_text(u) for u in reply[1:]]
            if not int(reply[0]):
                break
        return assigned

    async def own(self, instance: str, uid: str) -> None:
        """The call belongs to `instance` (before it is offered): if the instance dies, the reaper frees it."""
        await self._with((), self._own, [_clean(instance, "instance id"), _clean(uid, "uniqueid")])

    async def heartbeat(self, instance: str, lease: float, cursor: str = "0") -> Heartbeat:
        """Renews the instance's lease for `lease` seconds; says whether Redis still holds the seeded state, with one
        page of the agents' states from `cursor` (the next cursor in the reply; "0" when a full pass ended)."""
        reply = await self._heartbeat(args=[_clean(instance, "instance id"), max(1, int(lease * 1000)),
                                            _clean(cursor, "cursor")])
        flat = [_text(x) for x in reply[2:]]
        return Heartbeat(bool(int(reply[0])), dict(zip(flat[::2], flat[1::2])), _text(reply[1]) or "0")

    async def reap(self, previous: str = "", batch: int = REAP_BATCH, runs: int = 1000) -> Reaped:
        """Calls of instances whose lease lapsed (and of `previous`, this instance's earlier life) leave the line
        for good and then their agents are freed: short script runs of at most `batch` calls or agents each,
        repeated until done (at most `runs`)."""
        released, assigned = 0, []
        for _ in range(runs):
            reply = await self._reap(args=[self._ttl_ms, _clean(previous, "instance id"), batch])
            released += int(reply[0])
            assigned += [_text(u) for u in reply[2:]]
            if not int(reply[1]):
                break
        return Reaped(released, assigned)

    async def mark_seeded(self) -> None:
        await self._redis.set(P + "seeded", "1")

    async def offers_since(self, since_ms: int) -> tuple[list[tuple[str, str]], int]:
        """(uid, agent) of the reservations made from `since_ms` on (the offer log keeps one minute), and the time
        to ask from next: one read however many calls wait, so a lost pub/sub message costs no per-call polling."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrangebyscore(P + "offerlog", since_ms, "+inf")
        pipe.time()
        entries, (seconds, micros) = await pipe.execute()
        offers = []
        for entry in entries:
            uid, _, agent = _text(entry).partition(" ")
            offers.append((uid, agent))
        return offers, int(seconds) * 1000 + int(micros) // 1000

    async def call_states(self, uids: list[str]) -> list[tuple[str, str]]:
        """(state, agent) of many calls in one pipelined round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for uid in uids:
            pipe.hmget(P + "call:" + uid, "state", "agent")
        return [(_text(state), _text(agent)) for state, agent in await pipe.execute()]

    async def offer_of(self, uid: str) -> OfferResult:
        """The call's state as an offer: (`offered`, agent, the agent's endpoint at the reservation) when an agent is
        reserved for it, else its state alone. One read."""
        [reply] = await self._lane.run([("HMGET", P + "call:" + uid, "state", "agent", "endpoint")])
        state, agent, endpoint = _raised(reply)
        return OfferResult(_text(state), _text(agent), _text(endpoint))

    async def call_state(self, uid: str) -> tuple[str, str]:
        [reply] = await self._lane.run([("HMGET", P + "call:" + uid, "state", "agent")])
        state, agent = _raised(reply)
        return _text(state), _text(agent)

    async def agent_for_endpoint(self, endpoint: str) -> str | None:
        return _text(await self._redis.hget(P + "endpoints", endpoint)) or None

    async def endpoints(self) -> dict[str, str]:
        return {_text(k): _text(v) for k, v in (await self._redis.hgetall(P + "endpoints")).items()}

    async def agent(self, agent_id: str) -> AgentRecord | None:
        h = {_text(k): _text(v) for k, v in (await self._redis.hgetall(P + "agent:" + agent_id)).items()}
        if not h:
            return None
        return AgentRecord(agent_id, h.get("name", ""), h.get("endpoint", ""), h.get("state", ""),
                           h.get("reason", ""), h.get("skills", ""), h.get("langs", "").strip(","),
                           int(h.get("since", 0) or 0), h.get("call", ""))

    async def agents(self) -> list[AgentRecord]:
        ids = sorted(_text(i) for i in await self._redis.smembers(P + "agents"))
        records = [await self.agent(i) for i in ids]
        return [r for r in records if r is not None]

    async def explain(self, uid: str) -> list[str]:
        return [_text(x) for x in await self._redis.lrange(P + "explain:" + uid, 0, -1)]

    async def set_credential(self, role: str, name: str, hashed: str) -> None:
        """Stores the hash of a sign-in secret (`role` is agent or supervisor); replaces any earlier one."""
        await self._redis.set(P + f"credential:{_clean(role, 'role')}:{_clean(name, 'name')}", _clean(hashed, "hash"))

    async def credential(self, role: str, name: str) -> str:
        """The stored hash ("" when none was issued)."""
        return _text(await self._redis.get(P + f"credential:{role}:{name}"))

    async def remember_agent(self, customer: str, agent: str, days: float) -> None:
        if customer and days > 0:
            await self._redis.set(P + "last:" + customer, agent, ex=max(1, int(days * 86400)))

    async def last_agent(self, customer: str) -> str:
        return _text(await self._redis.get(P + "last:" + customer)) if customer else ""

    async def offers(self, subscribed: Callable[[], None] = lambda: None) -> AsyncIterator[tuple[str, str]]:
        """(uid, agent) for every reservation any instance makes, until the connection drops (then it raises);
        `subscribed` is called once the subscription is in place. Read off one connection with no per-message
        client machinery (redislane/channel_feed.py): every routed call brings one message to every instance."""
        async for data in channel_messages(self._redis, OFFERS_CHANNEL, subscribed):
            uid, _, agent = _text(data).partition(" ")
            yield uid, agent

    async def line_view(self, uid: str, queue: str, skills: dict[str, int], language: str) -> tuple[int, int]:
        """(position, eligible agents) for a waiting call's wait estimate (`queue` is kept for the callers; the place
        is global, not per queue).

        Position (router/lua/line_position.lua, one script run: 1 = next, 0 when the call is not waiting): 1 + the
        waiting calls with a higher priority now (router/decision.py's rule; ties to the earlier enqueue, then the
        lower uid) in the lines of the call's index skill, at every level, in its language and `*` (every language
        when it asks none). Approximation: those are the calls the agents able to serve it could take first; it also
        counts calls at a level above what some of those agents have, and calls needing another skill they lack, and
        it leaves out calls of other skills those agents also serve, and calls in another language that bilingual
        agents serve. Cost: one ZCOUNT per line of that skill, never one per call.

        Eligible agents: logged in, not paused, with every skill asked at its level or more and the language asked,
        counted from a roster of the agents read at most every `roster_ttl` seconds (router/eligible_agents.py):
        one O(agents) pipelined read per period per router process, not per estimate; counts up to that old."""
        position, _ = await self.line_position(uid)
        if self._eligible.stale():
            async with self._roster_lock:  # many estimates at once: one read of the roster, the others wait for it
                if self._eligible.stale():
                    self._eligible.replace(await self._roster())
        return position, self._eligible.count(skills, language)

    async def line_position(self, uid: str) -> tuple[int, int]:
        """(position, lines counted) from router/lua/line_position.lua (see `line_view`)."""
        position, lines = await self._position(args=[uid])
        return int(position), int(lines)

    async def _roster(self) -> list[RosterEntry]:
        """Every working agent's skill levels and languages: `states`, then one pipelined HMGET per agent logged in
        and not paused (two round trips)."""
        states = {_text(a): _text(st) for a, st in (await self._redis.hgetall(P + "states")).items()}
        working = [a for a, st in states.items() if st not in ("logged_out", "paused", "")]
        if not working:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for agent in working:
            pipe.hmget(P + "agent:" + agent, "skills", "langs")
        roster = []
        for agent, (skills, langs) in zip(working, await pipe.execute()):
            levels = {name: int(level) for name, _, level in
                      (part.partition(":") for part in _text(skills).split(",") if part) if level.isdigit()}
            roster.append(RosterEntry(states[agent], levels, frozenset(l for l in _text(langs).split(",") if l)))
        return roster

    async def snapshot(self, queues: Iterable[str]) -> QueueSnapshot:
        pipe = self._redis.pipeline(transaction=False)
        names = list(queues)
        for q in names:
            pipe.zcard(P + "qwait:" + q)
            pipe.zrange(P + "qwait:" + q, 0, 0, withscores=True)
        pipe.hvals(P + "states")
        pipe.time()
        replies = await pipe.execute()
        waiting: dict[str, int] = {}
        oldest: dict[str, int] = {}
        for i, q in enumerate(names):
            waiting[q] = int(replies[2 * i])
            first = replies[2 * i + 1]
            if first:
                oldest[q] = int(first[0][1])
        counts = {s: 0 for s in STATES}
        for state in replies[-2]:
            counts[_text(state)] = counts.get(_text(state), 0) + 1
        seconds, micros = replies[-1]
        return QueueSnapshot(waiting, oldest, counts, int(seconds) * 1000 + int(micros) // 1000)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _command(step: Step) -> Command:
    """A step as the command a trip sends: FCALL for a function, EVALSHA for another store's script."""
    code, keys, args = step
    if isinstance(code, Function):
        return code.fcall(keys, args)
    return ("EVALSHA", code.sha, len(keys), *keys, *args)


def _raised(reply: Any) -> Any:
    """A trip's reply, or its error raised."""
    if isinstance(reply, Exception):
        raise reply
    return reply
