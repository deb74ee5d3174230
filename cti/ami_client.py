"""The Asterisk Manager Interface (AMI) client: the one module that wraps panoramisk.

It owns the AMI link's whole lifecycle (design.md §4): connecting, logging in, waiting for `FullyBooted`, resyncing
state after every (re)connect, a Ping watchdog that notices half-open links, reconnecting with capped exponential
backoff and equal jitter, per-action timeouts, and one ordered, bounded event queue. panoramisk's `Manager` is not
used: it re-sends unanswered actions after a reconnect (an `Originate` could run twice), never checks Ping replies,
has no per-action timeout and decodes each TCP chunk separately (a UTF-8 character split across reads is lost). Only
its message parser (`panoramisk.message.Message`) is used, on complete, UTF-8-decoded messages framed here.

With `read_pause` the reader rests briefly after each read (the socket not read meanwhile), so one read takes
the events of many calls and everything downstream wakes once per pass instead of once per event; an action's
answer is never kept waiting by it.

Nothing from panoramisk leaves this module: callers see `AMIEvent`, `AMIResponse` and the `AMIError` family only.
Actions in flight when the link drops fail with `AMINotConnected` and are never re-sent. The secret is never logged.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random as _random
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Iterator, Mapping, cast

from panoramisk.message import Message

_EOM = b"\r\n\r\n"
_BANNER_PREFIX = b"Asterisk Call Manager/"
_READ_LIMIT = 4 * 1024 * 1024  # largest single AMI message accepted
_READ_CHUNK = 256 * 1024  # bytes asked of the socket per read (every whole message in it is handled at once)
_DROP_WARN_INTERVAL = 10.0  # seconds between "event queue full" warnings
_UNSAFE_CHARS = ("\r", "\n", "\0")
_POST_BACKLOG = 256 * 1024  # bytes waiting to be written beyond which post_action drops
_REST_BELOW = 64 * 1024  # a read this large means events pile up: read again at once, no rest (socket buffers
# stay small, so Asterisk's writes never block toward its writetimeout)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class AMISettings:
    """Where and how to reach Asterisk's manager interface, and the link's timing."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    ping_interval: float  # seconds between Ping actions (watchdog)
    ping_timeout: float  # a Ping unanswered this long => link considered dead => close + reconnect
    action_timeout: float  # default per-action timeout
    reconnect_initial: float  # first backoff delay
    reconnect_max: float  # cap of exponential backoff
    event_queue_size: int  # bound of the ordered event queue
    events_mask: str  # Events: value sent at login, e.g. "system,call,agent,user" (system is always added)
    # False for a user that reads no events (the callback user: write=originate only): Asterisk never sends it
    # FullyBooted, so the link counts as up once the login is accepted
    await_fully_booted: bool = True
    # seconds the reader rests after a read (socket reading paused) so the next read takes every event that came
    # meanwhile: one wake-up of the reader, the consumer, the router and the screen pops per pass, not per event.
    # 0: every event is read as it arrives. Never while an action awaits its answer (see `_rest`).
    read_pause: float = 0.0


@dataclass(frozen=True)
class AMIEvent:
    """One AMI event; every key and value is a str (the first value when a key repeats)."""

    name: str
    fields: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        """The value of `key` (matched exactly, else case-insensitively), or `default`."""
        if key in self.fields:
            return self.fields[key]
        lowered = key.lower()
        for k, v in self.fields.items():
            if k.lower() == lowered:
                return v
        return default


@dataclass(frozen=True)
class AMIResponse:
    """The response to one action; `events` holds a list action's entries, without its final *Complete event."""

    success: bool
    message: str
    fields: Mapping[str, str]
    events: tuple[AMIEvent, ...] = ()


class AMIError(Exception):
    """Base of every error this client raises."""


class AMINotConnected(AMIError):
    """The AMI link is down (or went down while the action was in flight); the action was not (re-)sent."""


class AMIActionTimeout(AMIError):
    """Asterisk did not answer the action within its timeout."""


class AMIActionFailed(AMIError):
    """Asterisk answered the action with `Response: Error`."""

    def __init__(self, action: str, response: AMIResponse) -> None:
        super().__init__(f"AMI action {action} failed: {response.message}")
        self.action = action
        self.response = response


class UnsafeAMIValue(AMIError, ValueError):
    """An action name, key or value contains CR, LF or NUL (or a key contains ':'); nothing was sent."""


class _LoginRejected(AMIError):
    """Asterisk refused the username/secret."""


def backoff_delays(initial: float, maximum: float, random: Callable[[], float]) -> Iterator[float]:
    """Reconnect delays: base doubles from `initial` up to `maximum`; each delay is base/2 + base/2 * random().

    Equal jitter: never shorter than half the base (no tight reconnect loops) and spread so many clients do not
    reconnect in step. `random` returns a float in [0, 1] (clamped).
    """
    base = min(initial, maximum)
    while True:
        r = min(1.0, max(0.0, random()))
        yield base / 2 + base / 2 * r
        base = min(maximum, base * 2)


def _unsafe(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


def check_safe(name: str, fields: Mapping[str, str]) -> None:
    """Raises UnsafeAMIValue if the action could inject extra AMI headers or actions."""
    keys = "".join(fields)
    if name and not _unsafe(name) and not _unsafe(keys) and ":" not in keys and not _unsafe("".join(fields.values())) \
            and all(fields):
        return  # the common case, checked in a few scans; the loop below names what is wrong
    if not name or any(c in name for c in _UNSAFE_CHARS):
        raise UnsafeAMIValue(f"unsafe AMI action name {name!r}")
    for key, value in fields.items():
        if not key or ":" in key or any(c in key for c in _UNSAFE_CHARS):
            raise UnsafeAMIValue(f"unsafe AMI key {key!r} in action {name}")
        if any(c in value for c in _UNSAFE_CHARS):
            raise UnsafeAMIValue(f"unsafe AMI value for key {key!r} in action {name}")


def _encode_action(name: str, action_id: str, fields: Mapping[str, str]) -> bytes:
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    lines.extend(f"{k}: {v}" for k, v in fields.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _flatten(message: Message) -> dict[str, str]:
    """A panoramisk Message as a plain str->str dict (first value of repeated keys)."""
    flat: dict[str, str] = {}
    for key, value in message.items():
        if isinstance(value, list):
            value = value[0] if value else ""
        flat[str(key)] = str(value)
    content = getattr(message, "content", "")
    if content and "Output" not in flat:
        flat["Output"] = str(content)
    return flat


def _event_fields(text: str) -> dict[str, str] | None:
    """An event's fields (first value of a repeated key), parsed without panoramisk: events are plain
    `Key: Value` lines. None for anything else (responses, with their bodies and quoted results, go to panoramisk)."""
    if not text.startswith("Event: ") or "esult: " in text:
        return None
    lines = text.split("\r\n")
    try:  # the common case: every line is `Key: Value`, no key repeats
        fields = dict([line.split(": ", 1) for line in lines])
        if len(fields) == len(lines):
            return fields
    except ValueError:
        pass  # a line without ": " (an empty one at the end, a bare word): the careful way below
    fields = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value
    return fields


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _to_event(fields: dict[str, str]) -> AMIEvent:
    return AMIEvent(name=fields.get("Event", ""), fields=fields)


class _PendingAction:
    """One action awaiting its response (and, for list actions, its events up to *Complete)."""

    def __init__(self, name: str, future: asyncio.Future[AMIResponse]) -> None:
        self.name = name
        self.future = future
        self.response: dict[str, str] | None = None
        self.events: list[AMIEvent] = []

    @property
    def collecting(self) -> bool:
        return self.response is not None and not self.future.done()

    def on_response(self, fields: dict[str, str]) -> bool:
        """Records the response; True when the action is complete."""
        self.response = fields
        is_list = fields.get("EventList", "").lower() == "start" or "will follow" in fields.get("Message", "").lower()
        if fields.get("Response", "") in ("Error", "Fail", "Failure") or not is_list:
            self._finish()
            return True
        return False

    def on_event(self, event: AMIEvent) -> bool:
        """Adds one list entry; True when this was the final *Complete event."""
        if event.name.endswith("Complete") or event.get("EventList").lower() == "complete":
            self._finish()
            return True
        self.events.append(event)
        return False

    def _finish(self) -> None:
        fields = self.response or {}
        if not self.future.done():
            self.future.set_result(AMIResponse(
                success=fields.get("Response", "") in ("Success", "Follows", "Goodbye"),
                message=fields.get("Message", ""), fields=fields, events=tuple(self.events)))


class AMIClient:
    """A self-healing AMI connection: ordered events out, actions in, `on_state` on every up/down edge."""

    def __init__(self, settings: AMISettings, *, loop: asyncio.AbstractEventLoop,
                 resync: Callable[[AMIClient], Awaitable[None]],
                 logger: logging.Logger, on_state: Callable[[bool], None],
                 random: Callable[[], float] = _random.random,
                 sleep: Sleep = asyncio.sleep) -> None:
        """`sleep` waits out reconnect backoff delays (injectable so tests can record them)."""
        self._settings = settings
        self._loop = loop
        self._resync = resync
        self._log = logger
        self._on_state = on_state
        self._random = random
        self._sleep = sleep
        # the ordered event queue: a deque (two C calls per event, not asyncio.Queue's dozen Python ones) and the one
        # consumer's waiter, woken when an event comes to an empty queue
        self._queue: deque[AMIEvent | None] = deque()
        self._queue_size = max(1, settings.event_queue_size)
        self._queue_waiter: asyncio.Future[None] | None = None
        self._connected = asyncio.Event()
        self._booted = asyncio.Event()
        self._pending: dict[str, _PendingAction] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._resting: asyncio.Future[None] | None = None  # the reader's rest, ended early when an action is sent
        self._posted: list[bytes] = []  # post_action's encoded actions waiting for this loop pass's one write
        self._posted_bytes = 0
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._reported_up = False
        self._id_prefix = f"sb-{uuid.uuid4().hex[:12]}"
        self._post_prefix = f"{self._id_prefix}-post-"  # responses to post_action: discarded on arrival
        self._ids = itertools.count(1)
        self._last_drop_warning: float | None = None
        self._drops_since_warning = 0
        self.dropped_events = 0
        self.dropped_actions = 0  # post_action calls not sent (link down or backlog full)

    # -- public interface ---------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True once logged in and Asterisk is fully booted, until the link is lost."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Starts the connect loop in the background; returns at once (Asterisk may be down)."""
        if self._runner is None or self._runner.done():
            self._stopping = False
            self._runner = self._loop.create_task(self._run(), name="ami-client")

    async def stop(self) -> None:
        """Logs off if connected, stops reconnecting, closes the link and ends `events()` iterators."""
        self._stopping = True
        if self.connected:
            try:
                await self._request("Logoff", {}, timeout=self._settings.action_timeout)
            except AMIError as exc:
                self._log.debug("AMI logoff did not complete: %s", exc)
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait({runner})
        self._close_link()
        self._put_sentinel()

    async def wait_connected(self) -> None:
        """Returns once the client is connected (at once if it already is)."""
        await self._connected.wait()

    async def events(self) -> AsyncIterator[AMIEvent]:
        """Every event not belonging to a list action, in arrival order, until `stop()`. Use one consumer.

        The queue is bounded (`event_queue_size`); when full the OLDEST event is dropped so the freshest state
        survives, the drop is counted in `dropped_events` and a warning is logged at most every 10 s.
        """
        queue = self._queue
        while True:
            while queue:
                event = queue.popleft()
                if event is None:
                    return
                yield event
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._queue_waiter = waiter
            try:
                await waiter
            finally:
                self._queue_waiter = None

    async def send_action(self, name: str, fields: Mapping[str, str] | None = None, *,
                          timeout: float | None = None) -> AMIResponse:
        """Sends one action and returns its response (with its events for list actions).

        Raises UnsafeAMIValue before sending anything, AMINotConnected if the link is down or drops before the
        answer (the action is never re-sent), AMIActionTimeout, or AMIActionFailed on `Response: Error`.
        """
        fields = dict(fields or {})
        check_safe(name, fields)
        if not self.connected:
            raise AMINotConnected(f"AMI not connected; {name} not sent")
        response = await self._request(name, fields, timeout=self._settings.action_timeout if timeout is None
                                       else timeout)
        if not response.success:
            raise AMIActionFailed(name, response)
        return response

    def post_action(self, name: str, fields: Mapping[str, str]) -> bool:
        """Sends one action without waiting for its response (for fire-and-forget actions such as UserEvent).

        The actions posted during one pass of the event loop go out together in one write at its end (a burst of
        screen pops costs one system call, not one each), in the order posted and before any later `send_action`.
        Returns False, sending nothing, when the link is down or more than `_POST_BACKLOG` bytes are still
        waiting to be written, these posts included (a stalled Asterisk must not grow the buffer); the drop is
        counted in `dropped_actions`. Its response is discarded on arrival. Raises UnsafeAMIValue like
        `send_action`.
        """
        check_safe(name, fields)
        writer = self._writer
        if not self.connected or writer is None or writer.is_closing() \
                or writer.transport.get_write_buffer_size() + self._posted_bytes > _POST_BACKLOG:
            self.dropped_actions += 1
            return False
        action = _encode_action(name, f"{self._post_prefix}{next(self._ids)}", fields)
        if not self._posted:
            self._loop.call_soon(self._flush_posted, writer)
        self._posted.append(action)
        self._posted_bytes += len(action)
        return True

    def _flush_posted(self, writer: asyncio.StreamWriter) -> None:
        """Writes the posted actions waiting (one write); those of a link that went away meanwhile are dropped."""
        posted, self._posted, self._posted_bytes = self._posted, [], 0
        if not posted:
            return
        if writer is not self._writer or writer.is_closing():
            self.dropped_actions += len(posted)
            return
        writer.write(posted[0] if len(posted) == 1 else b"".join(posted))

    # -- connection lifecycle -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        s = self._settings
        delays = backoff_delays(s.reconnect_initial, s.reconnect_max, self._random)
        while not self._stopping:
            logged_in = False
            try:
                logged_in = await self._session()
            except _LoginRejected as exc:
                self._log.error("AMI login rejected for user %r at %s:%d: %s", s.username, s.host, s.port, exc)
            except (OSError, EOFError, asyncio.TimeoutError, AMIError) as exc:
                self._log.warning("AMI connection to %s:%d failed: %s", s.host, s.port, exc or type(exc).__name__)
            except Exception:
                self._log.exception("AMI session ended unexpectedly")
            finally:
                self._link_down()
            if self._stopping:
                break
            if logged_in:
                delays = backoff_delays(s.reconnect_initial, s.reconnect_max, self._random)
            delay = next(delays)
            self._log.info("AMI reconnecting to %s:%d in %.2f s", s.host, s.port, delay)
            await self._sleep(delay)

    async def _session(self) -> bool:
        """One connection, from connect to loss. Returns whether login succeeded (resets the backoff)."""
        s = self._settings
        async with asyncio.timeout(s.action_timeout):
            reader, writer = await asyncio.open_connection(s.host, s.port, limit=_READ_LIMIT)
            self._writer = writer
            banner = await reader.readline()
        if not banner.startswith(_BANNER_PREFIX):
            raise AMIError(f"unexpected AMI banner {banner[:60]!r}")
        self._log.info("AMI connected to %s:%d (%s)", s.host, s.port, banner.decode("utf-8", "replace").strip())
        self._booted.clear()
        transport = cast(asyncio.Transport, writer.transport)  # a socket transport: it can pause reading
        reader_task = self._loop.create_task(self._read_loop(reader, transport), name="ami-reader")
        watchdog: asyncio.Task[None] | None = None
        booted: asyncio.Task[bool] | None = None
        try:
            # FullyBooted is a `system` event: without it in the mask the link would never count as up.
            mask = s.events_mask if "system" in s.events_mask.split(",") else f"system,{s.events_mask}"
            login = await self._request("Login", {"Username": s.username, "Secret": s.secret,
                                                  "Events": mask}, timeout=s.action_timeout)
            if not login.success:
                raise _LoginRejected(login.message or "no reason given")
            self._log.info("AMI logged in as %r; waiting for FullyBooted", s.username)
            if not s.await_fully_booted:
                self._booted.set()
            watchdog = self._loop.create_task(self._watchdog(), name="ami-watchdog")
            booted = self._loop.create_task(self._booted.wait())
            await asyncio.wait({booted, reader_task, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if not self._booted.is_set() or reader_task.done() or watchdog.done():
                return True  # the link died before Asterisk was fully booted
            self._connected.set()
            try:
                await self._resync(self)
            except Exception:
                self._log.exception("AMI resync after connect failed; continuing")
            if self.connected:
                self._reported_up = True
                self._notify_state(True)
                await asyncio.wait({reader_task, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            return True
        finally:
            for task in (booted, watchdog, reader_task):
                if task is not None:
                    task.cancel()
            self._close_link()

    async def _watchdog(self) -> None:
        """Pings every `ping_interval`; returns (ending the session) when a Ping goes unanswered."""
        s = self._settings
        while True:
            await asyncio.sleep(s.ping_interval)
            try:
                await self._request("Ping", {}, timeout=s.ping_timeout)
            except AMIActionTimeout:
                self._log.warning("AMI Ping unanswered for %.2f s: link is half-open; reconnecting", s.ping_timeout)
                self._close_link()
                return
            except AMINotConnected:
                return

    async def _read_loop(self, reader: asyncio.StreamReader, transport: asyncio.Transport) -> None:
        """Frames messages on the blank line, decodes UTF-8, and dispatches them in order; returns on EOF.

        Every message that arrived in one read is framed and dispatched together (one wake-up per read, not per
        message); a message is decoded only once complete, so a UTF-8 character split across reads is kept. After
        each read the reader rests `read_pause` seconds (see `_rest`), so the next read takes many events."""
        pending = b""
        post_marker = f"\r\nActionID: {self._post_prefix}".encode()
        rest = self._settings.read_pause
        try:
            while True:
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    self._log.warning("AMI connection closed by %s:%d", self._settings.host, self._settings.port)
                    return
                messages = (pending + chunk).split(_EOM) if pending else chunk.split(_EOM)
                pending = messages.pop()
                if len(pending) > _READ_LIMIT:
                    self._log.error("AMI message larger than %d bytes; dropping the link", _READ_LIMIT)
                    return
                for raw in messages:
                    if raw.startswith(b"Response: ") and post_marker in raw:
                        continue  # the answer to a fire-and-forget action (post_action): nobody reads it
                    text = raw.decode("utf-8", "replace")
                    fields = _event_fields(text)
                    if fields is None:
                        message = Message.from_line(text.strip())
                        if message is None:
                            continue
                        fields = _flatten(message)
                    self._dispatch(fields)
                if rest > 0 and len(chunk) < _REST_BELOW and not self._pending:
                    await self._rest(transport, rest)
        except OSError as exc:
            self._log.warning("AMI connection error: %s", exc)
        finally:
            self._link_down()

    async def _rest(self, transport: asyncio.Transport, seconds: float) -> None:
        """Stops reading the socket for `seconds` (events wait in the kernel's buffer, nothing wakes the loop), so
        the next read takes them all at once. Sending an action ends the rest at once: its answer is never left
        waiting in the buffer (the reader does not rest again while any action awaits its answer), so no action's
        or Ping's deadline is shortened by it."""
        if transport.is_closing():
            return  # the link is going: the next read sees its end
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._resting = waiter
        timer = self._loop.call_later(seconds, _wake, waiter)
        transport.pause_reading()
        try:
            await waiter
        finally:
            timer.cancel()
            self._resting = None
            if not transport.is_closing():
                transport.resume_reading()

    def _end_rest(self) -> None:
        """An action was sent: the reader reads again now (its answer is read as soon as it comes)."""
        if self._resting is not None:
            _wake(self._resting)

    def _link_down(self) -> None:
        """Marks the link lost: fails in-flight actions (never re-sent) and reports the down edge once."""
        self._close_link()
        self._connected.clear()
        pending, self._pending = self._pending, {}
        for action in pending.values():
            if not action.future.done():
                action.future.set_exception(AMINotConnected(f"AMI link lost before {action.name} was answered"))
        if self._reported_up:
            self._reported_up = False
            self._notify_state(False)

    def _close_link(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _notify_state(self, up: bool) -> None:
        try:
            self._on_state(up)
        except Exception:
            self._log.exception("AMI on_state(%s) callback failed", up)

    # -- actions and events -------------------------------------------------------------------------------------

    async def _request(self, name: str, fields: Mapping[str, str], *, timeout: float) -> AMIResponse:
        """Writes one action on the current link and awaits its answer; no connected/booted check."""
        check_safe(name, fields)
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AMINotConnected(f"AMI link down; {name} not sent")
        action_id = f"{self._id_prefix}-{next(self._ids)}"
        pending = _PendingAction(name, self._loop.create_future())
        self._pending[action_id] = pending
        self._end_rest()
        try:
            async with asyncio.timeout(timeout):
                self._flush_posted(writer)  # actions posted before this one go first
                writer.write(_encode_action(name, action_id, fields))
                await writer.drain()
                return await pending.future
        except TimeoutError:
            raise AMIActionTimeout(f"AMI action {name} unanswered after {timeout:.2f} s") from None
        except (ConnectionError, OSError) as exc:
            raise AMINotConnected(f"AMI link lost while sending {name}: {exc}") from None
        finally:
            if self._pending.get(action_id) is pending:
                del self._pending[action_id]

    def _dispatch(self, fields: dict[str, str]) -> None:
        action_id = fields.get("ActionID", "")
        pending = self._pending.get(action_id) if action_id else None
        if "Response" in fields and "Event" not in fields:  # OriginateResponse is an event with a Response field
            if pending is None and action_id.startswith(self._post_prefix):
                return  # the answer to a fire-and-forget action
            if pending is None:
                self._log.debug("AMI response for unknown or expired action %s dropped", action_id)
            elif pending.on_response(fields):
                self._pending.pop(action_id, None)
            return
        if "Event" not in fields:
            return
        event = _to_event(fields)
        if pending is not None and pending.collecting:
            if pending.on_event(event):
                self._pending.pop(action_id, None)
            return
        if event.name == "FullyBooted":
            self._booted.set()
        self._enqueue(event)

    def _enqueue(self, event: AMIEvent) -> None:
        queue = self._queue
        if len(queue) >= self._queue_size:
            queue.popleft()  # drop the oldest: the freshest state matters most
            self.dropped_events += 1
            self._drops_since_warning += 1
            now = self._loop.time()
            if self._last_drop_warning is None or now - self._last_drop_warning >= _DROP_WARN_INTERVAL:
                self._log.warning("AMI event queue full (%d): dropped %d oldest event(s), %d in total",
                                  self._queue_size, self._drops_since_warning, self.dropped_events)
                self._last_drop_warning = now
                self._drops_since_warning = 0
        queue.append(event)
        if self._queue_waiter is not None:
            _wake(self._queue_waiter)

    def _put_sentinel(self) -> None:
        if len(self._queue) >= self._queue_size:
            self._queue.popleft()
        self._queue.append(None)
        if self._queue_waiter is not None:
            _wake(self._queue_waiter)
