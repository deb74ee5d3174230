"""Screen pops: when an agent's phone rings and when the agent answers, hand the agent the whole picture.

AMI `DialBegin` (ringing) and `DialEnd` with `DialStatus: ANSWER` (answered) are turned into one payload: the
customer (summary, open cases, recent contacts), segment, confidence, IVR path and intents, and how long the
caller has waited — built from the typed call-context record (keyed by the caller's uniqueid) and the customer,
both read through the CTI store. It is published three ways: to the agent's Server-Sent Events subscribers, through
the CTI store's pub/sub outlet for integrations, and as an AMI `UserEvent` (ids and labels only; no names or
numbers go through Asterisk).

Events are handled one at a time in arrival order, so an agent never sees "answered" before "ringing".

Pops are keyed by agent id: the dialled device (`PJSIP/desk4`) is turned into the agent sitting at it (`osman`) by
an `AgentResolver` (the router's endpoint map, wired in the composition root; cti never imports the router). Each
pop gets an increasing event id and is kept in a small per-agent replay buffer, so a reconnecting stream resumes
after the last id it saw (SSE `Last-Event-ID`).

A call this process handled (its records written here lately: `RecentCalls`, cti/recent_calls.py) needs no read
at all: its last record and the customer its opening look-up found are in memory. For other calls, the record and
customer read for a call's "ringing" pop are kept (bounded) and reused for its "answered" pop, so a
call costs the CTI store one read of each, not two. Pops are taken in batches (every pop waiting when the worker
comes round): with a batch reader (`CtiStore.read_calls_with_customers`) the records and customers a batch needs are
read together, two pipelined round trips however many calls ring at once (a batch is what arrives within
`BATCH_WINDOW` of its first pop, or, when the AMI reader rests between reads, what one read brought). While no integration subscribes (a publish reached nobody),
pops are published for integrations at most once per `IDLE_OUTLET_RECHECK` seconds (pub/sub delivers to whoever
is subscribed at that moment anyway; a new subscriber gets pops within that time); the UserEvent is sent without waiting for Asterisk's answer
when the wiring passes a fire-and-forget sender (`AMIClient.post_action`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

from switchboard.cti.call_context import CallContext
from switchboard.cti.customer import Customer
from switchboard.cti.recent_calls import RecentCalls

MAX_PENDING = 1000
REPLAY = 50  # pops kept per agent for a reconnecting stream (and the agent's own recent calls)
IDLE_OUTLET_RECHECK = 1.0  # seconds between publishes for integrations while nobody subscribes
MAX_REMEMBERED = 4096  # calls whose record and customer are kept between their ringing and answered pops
BATCH_WINDOW = 0.02  # seconds a pop waits for others to be read with it (an agent does not see 20 ms)


class ContextReader(Protocol):
    """Reads call-context records (cti.cti_store.CtiStore)."""

    async def read_call(self, uniqueid: str) -> CallContext | None: ...


class CustomerReader(Protocol):
    """Reads customers by id (cti.cti_store.CtiStore)."""

    async def get(self, customer_id: str) -> Customer | None: ...


class PopReader(Protocol):
    """Reads many calls' records with their customers at once (cti.cti_store.CtiStore)."""

    async def read_calls_with_customers(self, uniqueids: Sequence[str]
                                        ) -> list[tuple[CallContext | None, Customer | None]]: ...


class AgentResolver(Protocol):
    """Who sits at a device: `PJSIP/desk4` → `osman` (the router's endpoint map satisfies it)."""

    async def agent_for_endpoint(self, endpoint: str) -> str | None: ...


def agent_of(channel: str) -> str | None:
    """The endpoint name of a dialled channel: `PJSIP/agent1-0000002a` → `agent1`."""
    if not channel.startswith("PJSIP/"):
        return None
    name = channel[len("PJSIP/"):]
    return name.rsplit("-", 1)[0] if "-" in name else name


@dataclass(frozen=True)
class StreamEvent:
    """One pop as a stream carries it: an id that only grows (SSE `id:`) and the payload."""

    id: int
    payload: dict[str, Any]


StreamQueue = asyncio.Queue[StreamEvent]


@dataclass
class AgentStreams:
    """The SSE subscribers of each agent (one bounded queue per open stream) and each agent's last pops."""

    subscribers: dict[str, set[StreamQueue]] = field(default_factory=dict)
    replay: int = REPLAY
    _recent: dict[str, deque[StreamEvent]] = field(default_factory=dict)
    _next_id: int = field(default_factory=lambda: time.time_ns() // 1000)  # grows across restarts too

    def subscribe(self, agent: str, after: int | None = None) -> StreamQueue:
        """A new stream; with `after` (the last event id the client saw) it starts with the pops it missed."""
        queue: StreamQueue = asyncio.Queue(maxsize=100)
        if after is not None:
            for event in self.recent(agent):
                if event.id > after and not queue.full():
                    queue.put_nowait(event)
        self.subscribers.setdefault(agent, set()).add(queue)
        return queue

    def unsubscribe(self, agent: str, queue: StreamQueue) -> None:
        self.subscribers.get(agent, set()).discard(queue)

    def recent(self, agent: str) -> list[StreamEvent]:
        """The agent's last pops, oldest first (bounded by `replay`)."""
        return list(self._recent.get(agent, ()))

    def publish(self, agent: str, payload: dict[str, Any]) -> int:
        self._next_id += 1
        event = StreamEvent(self._next_id, payload)
        self._recent.setdefault(agent, deque(maxlen=self.replay)).append(event)
        delivered = 0
        for queue in list(self.subscribers.get(agent, ())):
            if not queue.full():
                queue.put_nowait(event)
                delivered += 1
        return delivered


class ScreenPops:
    """Turns AMI dial events into screen pops and publishes them; feed it with `on_ami_event`."""

    def __init__(self, context: ContextReader, customers: CustomerReader, streams: AgentStreams,
                 publish_integrations: Callable[[str], Awaitable[Any]],
                 send_user_event: Callable[[Mapping[str, str]], Awaitable[Any]] | None,
                 logger: logging.Logger, clock: Callable[[], float] = time.time,
                 on_published: Callable[[str], None] = lambda kind: None,
                 resolver: AgentResolver | None = None,
                 monotonic: Callable[[], float] = time.monotonic, reader: PopReader | None = None,
                 recent: RecentCalls | None = None, batch_window: float = BATCH_WINDOW) -> None:
        """`reader`, when given, reads every record and customer a batch of pops needs in one go (else one
        `read_call` and one `get` per call). `recent`: the calls this process wrote lately (their pops read
        nothing). `batch_window`: how long a batch's first pop waits for others; 0 when the AMI reader already
        hands over a read pass's events together (`ami.read_pause`): no timer, no extra wake-up per pass."""
        self._recent = recent
        self._batch_window = batch_window
        self._context = context
        self._reader = reader
        self._resolver = resolver
        self._customers = customers
        self._streams = streams
        self._publish_integrations = publish_integrations
        self._send_user_event = send_user_event
        self._log = logger
        self._clock = clock
        self._on_published = on_published
        self._monotonic = monotonic
        self._queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue(maxsize=MAX_PENDING)
        self._task: asyncio.Task[None] | None = None
        self._remembered: OrderedDict[str, tuple[CallContext, Customer | None]] = OrderedDict()
        self._outlet_idle_until = 0.0  # monotonic time before which nobody is assumed subscribed
        self.published = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def on_ami_event(self, name: str, fields: Mapping[str, str]) -> None:
        """Picks the dial events out of the AMI stream (called in order by the one event consumer)."""
        if name == "DialBegin":
            kind = "ringing"
        elif name == "DialEnd" and fields.get("DialStatus") == "ANSWER":
            kind = "answered"
        else:
            return
        agent = agent_of(fields.get("DestChannel", ""))
        uniqueid = fields.get("Uniqueid", "")
        if agent is None or not uniqueid:
            return
        try:
            self._queue.put_nowait((kind, agent, uniqueid))
        except asyncio.QueueFull:
            self._log.warning("screen pop queue full; %s pop for %s dropped", kind, agent)

    async def _work(self) -> None:
        """Pops in arrival order; the pops waiting together (those that came while the last ones were being read)
        share one read of the records and customers they need."""
        while True:
            batch = [await self._queue.get()]
            if self._batch_window > 0:
                await asyncio.sleep(self._batch_window)  # gathering a batch: its records and customers read together
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            fresh: dict[str, tuple[CallContext | None, Customer | None]] = {}
            try:
                fresh = await self._read([uid for kind, _, uid in batch
                                          if uid not in self._remembered and self._known(uid) is None])
            except Exception as exc:  # each pop reads on its own below
                self._log.warning("screen pop reads failed (%s)", type(exc).__name__)
            for kind, endpoint, uniqueid in batch:
                try:
                    agent = await self.agent_at(endpoint)
                    if agent is not None:
                        await self.pop(kind, agent, uniqueid, fresh)
                except Exception:
                    self._log.exception("screen pop for %s failed", endpoint)

    async def _read(self, uniqueids: list[str]) -> dict[str, tuple[CallContext | None, Customer | None]]:
        """The records and customers of these calls (each once), through the batch reader when there is one."""
        wanted = list(dict.fromkeys(uniqueids))
        if not wanted or self._reader is None:
            return {}
        return dict(zip(wanted, await self._reader.read_calls_with_customers(wanted)))

    def _known(self, uniqueid: str) -> tuple[CallContext, Customer | None] | None:
        """The call's record and customer when this process wrote them lately (cti/recent_calls.py)."""
        return self._recent.get(uniqueid) if self._recent is not None else None

    async def agent_at(self, endpoint: str) -> str | None:
        """The agent id behind an endpoint name; without a resolver the endpoint name is the agent id."""
        if self._resolver is None:
            return endpoint
        return await self._resolver.agent_for_endpoint("PJSIP/" + endpoint)

    async def _lookup(self, kind: str, uniqueid: str,
                      fresh: Mapping[str, tuple[CallContext | None, Customer | None]]
                      ) -> tuple[CallContext, Customer | None]:
        """The call's record and customer: this process's own (`recent`), else read at its first pop (`fresh`: read
        with its batch) and kept until it is answered."""
        own = self._known(uniqueid)
        if own is not None:
            return own
        known = self._remembered.pop(uniqueid, None) if kind == "answered" else self._remembered.get(uniqueid)
        if known is not None:
            return known
        if uniqueid in fresh:
            found, customer = fresh[uniqueid]
            record = found or CallContext(uniqueid)
        else:
            found = await self._context.read_call(uniqueid)
            record = found or CallContext(uniqueid)
            customer = await self._customers.get(record.customer_id) if record.customer_id else None
        if kind != "answered" and found is not None:  # an unknown call is read again (its record may come)
            self._remembered[uniqueid] = (record, customer)
            if len(self._remembered) > MAX_REMEMBERED:
                self._remembered.popitem(last=False)
        return record, customer

    async def build(self, kind: str, agent: str, uniqueid: str,
                    fresh: Mapping[str, tuple[CallContext | None, Customer | None]] | None = None
                    ) -> dict[str, Any]:
        """The payload: the call's record (an empty one when unknown) and the customer it names."""
        record, customer = await self._lookup(kind, uniqueid, fresh or {})
        return {"event": kind, "agent": agent, "uniqueid": uniqueid,
                "customer": customer.summary() if customer else None,
                "segment": record.segment or (customer.segment if customer else ""),
                "confidence": record.confidence,
                "ivr_path": list(record.path),
                "intents": list(record.intents),
                "flow": record.flow,
                "language": record.language or (customer.language if customer else ""),
                "at": round(self._clock(), 3),
                "waited_seconds": round(self._clock() - record.started_at, 1) if record.started_at else None}

    async def pop(self, kind: str, agent: str, uniqueid: str,
                  fresh: Mapping[str, tuple[CallContext | None, Customer | None]] | None = None) -> dict[str, Any]:
        payload = await self.build(kind, agent, uniqueid, fresh)
        self._streams.publish(agent, payload)
        now = self._monotonic()
        if now >= self._outlet_idle_until:
            try:
                receivers = await self._publish_integrations(json.dumps(payload))
            except Exception as exc:
                self._log.warning("screen pop not published for integrations (%s)", type(exc).__name__)
            else:
                if receivers == 0:  # nobody listens: look again in a while, not on every pop
                    self._outlet_idle_until = now + IDLE_OUTLET_RECHECK
        if self._send_user_event is not None:
            customer = payload["customer"] or {}
            try:
                await self._send_user_event({"UserEvent": "SwitchboardScreenPop", "Agent": agent,
                                             "Pop": kind, "CallUniqueid": uniqueid,
                                             "CustomerId": str(customer.get("id", "")),
                                             "Segment": payload["segment"], "Confidence": payload["confidence"],
                                             "Intents": ",".join(payload["intents"])})
            except Exception as exc:
                self._log.warning("screen pop UserEvent not sent (%s)", type(exc).__name__)
        self.published += 1
        self._on_published(kind)
        return payload
