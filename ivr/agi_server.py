"""The FastAGI listener: accepts Asterisk's connections, reads each call's environment and runs its flow.

One `asyncio.Protocol` per connection keeps the per-command cost near the bare event loop's (design.md §5). Peers
outside the allow-list are closed at once and counted. The header is bounded in lines, bytes and time, so a
health check that connects and closes, or a peer that stalls, costs nothing but a counter. Each call's flow runs
as the connection's own task, with a done-callback (no coroutine wrapped around it) that records how it ended and
closes the connection: a failing flow, a protocol fault or a timeout ends that call only, and tells the dialplan to
use its fallback (`SWITCHBOARD_STATUS=FAILED`) while the channel is still there. On stop the listener closes, active calls
get a grace period to finish, then the rest are cut.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from time import perf_counter
from typing import Any, Callable, Coroutine, Iterable, Mapping, Protocol, Sequence, cast

from switchboard.ivr.agi_codec import (AGIEnvironment, AGIProtocolError, AGIReply, HangupNotice, HeaderDecoder,
                                      ReplyDecoder, ReplyEvent, encoded_line, format_command, known_answer,
                                      plain_reply, whole_header)
from switchboard.ivr.channel import (AFTER_HANGUP_VERBS, STATUS_VARIABLE, AGICommandFailed, CallerHungUp, Channel,
                                     ChannelClosed, CommandTimeout, checked_reply)

# Asterisk opens one connection per call: a burst that arrives while the loop is busy waits in the kernel's
# accept queue. asyncio's default of 100 overflowed at 75 calls/s (bench/knee.py: Asterisk's connect gave up after
# 2 s and 257 calls went to the fallback); the kernel caps this at net.core.somaxconn (4096 on Debian 12).
LISTEN_BACKLOG = 1024
# How often the server sweeps the in-flight deadlines (headers and commands): a timeout is acted on at most this
# late (less when a timeout is under four times this).
SWEEP_INTERVAL = 0.25
# Command timings wait in plain lists (one per verb) for the sweep, which hands them to the observer in bulk; a
# call that ends with more than this waiting for its last verb hands them over itself (a sweep that runs late).
MAX_PENDING_TIMINGS = 4096
# Verbs timed apart (AGI has about 50; the flows use a dozen); any further verb is timed as "other".
MAX_TIMED_VERBS = 64

# What a connection's `_seconds` is until its first command (never appended to: a reply needs a command).
_NO_SECONDS: list[float] = []
# The name of every call's task (asyncio.all_tasks() tells them apart by their coroutines).
TASK_NAME = "FastAGI call"
# A flow is a coroutine function: its coroutine becomes the connection's task as it is.
Flow = Callable[[Channel], Coroutine[Any, Any, None]]


class AGIServerEvents(Protocol):
    """What the listener reports (the metrics module implements it)."""

    def session_started(self) -> None: ...

    def session_ended(self, outcome: str) -> None: ...

    def peer_rejected(self) -> None: ...

    def protocol_error(self, kind: str) -> None: ...

    def commands_completed(self, timings: Mapping[str, Sequence[float]]) -> None:
        """Commands answered since the last call: for each verb, the seconds from sending each to its reply. The
        lists are the listener's and are emptied once this returns."""
        ...


class AGIServer:
    """Listens for FastAGI connections and routes each call by its script name to a flow."""

    def __init__(self, loop: asyncio.AbstractEventLoop, routes: Mapping[str, Flow], *,
                 allowed_peers: Iterable[str], header_timeout: float, command_timeout: float,
                 events: AGIServerEvents, logger: logging.Logger) -> None:
        self.loop = loop
        self.routes = routes
        self.networks = tuple(ipaddress.ip_network(p, strict=False) for p in allowed_peers)
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.events = events
        self.log = logger
        self.connections: set[AGIConnection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._sweep: asyncio.TimerHandle | None = None
        self.sweep_interval = min(SWEEP_INTERVAL, header_timeout / 4, command_timeout / 4)
        self._peer_verdicts: dict[str, bool] = {}  # peer address -> allowed (Asterisk is one or a few hosts)
        # verb -> seconds of each command answered since the last fold: one append of a float per command (no
        # call, and no tuple for the garbage collector to follow).
        self.timings: dict[str, list[float]] = {}

    async def start(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(lambda: AGIConnection(self), host, port, reuse_address=True,
                                                     backlog=LISTEN_BACKLOG)
        self._sweep = self.loop.call_later(self.sweep_interval, self._sweep_deadlines)

    def overdue(self, now: float) -> int:
        """Fails every header and command whose deadline is at or before `now` (a `time.perf_counter` reading);
        returns how many. A command fails as its own timeout would: `CommandTimeout` in the flow, the connection
        closed (later replies could no longer be matched), so the dialplan sends the call to its fallback.

        The deadlines are the in-flight commands' own (one float on each connection, set when the command is
        written, cleared when it is answered): one sweep of them replaces a timer per command, whose arming and
        cancelling cost as much as the rest of a command's handling (bench/agi_throughput.py).
        """
        late = [c for c in self.connections if c.deadline is not None and c.deadline <= now]
        for connection in late:
            connection.deadline_passed()
        return len(late)

    def fold_timings(self) -> None:
        """Hands the commands' timings gathered so far to the observer, in one call."""
        if self.timings:
            self.events.commands_completed(self.timings)
            for seconds in self.timings.values():
                seconds.clear()  # in place: a command in flight appends to its verb's list when answered

    def seconds_for(self, verb: str) -> list[float]:
        """The list a command of `verb` appends its round trip to (the first command of a verb makes it)."""
        seconds = self.timings.get(verb)
        if seconds is None:
            if len(self.timings) >= MAX_TIMED_VERBS:
                verb = "other"
            seconds = self.timings.setdefault(verb, [])
        return seconds

    def _sweep_deadlines(self) -> None:
        """The periodic sweep, every `sweep_interval` seconds: deadlines (acted on at most that late), and the
        commands' timings folded into the observer."""
        self.overdue(perf_counter())
        self.fold_timings()
        self._sweep = self.loop.call_later(self.sweep_interval, self._sweep_deadlines)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def active_calls(self) -> int:
        return sum(1 for c in self.connections if c.in_call)

    def peer_allowed(self, host: str) -> bool:
        """Whether `host` is in the allow-list; the verdict is kept per address (parsed once, not per call)."""
        verdict = self._peer_verdicts.get(host)
        if verdict is None:
            verdict = self._judge_peer(host)
            if len(self._peer_verdicts) >= 1024:  # bounded: a scan from many addresses cannot grow it
                self._peer_verdicts.clear()
            self._peer_verdicts[host] = verdict
        return verdict

    def _judge_peer(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def track(self, connection: AGIConnection, active: bool) -> None:
        if active:
            if not self.connections:  # the first call after idle (clearing an already clear Event costs a call)
                self._idle.clear()
            self.connections.add(connection)
        else:
            self.connections.discard(connection)
            if not self.connections:
                self._idle.set()

    async def stop(self, grace: float) -> None:
        """Stops accepting; waits up to `grace` seconds for active calls, then closes what is left."""
        if self._server is not None:
            self._server.close()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except asyncio.TimeoutError:
            self.log.warning("grace period over: cutting %d call(s)", len(self.connections))
            for connection in list(self.connections):
                connection.abort("stopping")
            await asyncio.wait_for(self._idle.wait(), 5)
        if self._sweep is not None:
            self._sweep.cancel()
        self.fold_timings()
        if self._server is not None:
            await self._server.wait_closed()


class AGIConnection(asyncio.Protocol):
    """One FastAGI connection: header phase, then one flow task exchanging commands and replies."""

    # One is made per call and its attributes are read on every command: slots make both cheaper.
    __slots__ = ("server", "transport", "task", "channel", "in_call", "closed", "hung_up", "_in_header", "_header",
                 "_replies", "deadline", "_verb", "_sent_at", "_pending", "_gone", "_seconds", "_timings",
                 "_create_future", "_write", "_timeout")

    def __init__(self, server: AGIServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None  # the call's flow, while it runs
        self.channel: Channel | None = None
        self.in_call = False  # from the header's end until the call's outcome is recorded
        self.closed = False
        self.hung_up = False  # Asterisk said the caller hung up (CommandLink)
        self._in_header = True
        # Decoders are made only when needed: the usual header comes in one piece and the usual reply is one plain
        # line, both read by stateless functions of the codec.
        self._header: HeaderDecoder | None = None
        self._replies: ReplyDecoder | None = None
        self.deadline: float | None = None
        self._verb = ""
        self._sent_at = 0.0
        self._pending: asyncio.Future[AGIReply] | None = None
        self._gone: asyncio.Future[None] | None = None
        self._timings = server.timings
        self._seconds = _NO_SECONDS  # the timings list of the verb in flight (set by each command)
        self._create_future = server.loop.create_future
        self._write: Callable[[bytes], object] | None = None  # the transport's write while open (None once closed)
        self._timeout = server.command_timeout

    # --- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance check here (and
        # no call to typing.cast either, once per connection).
        tcp: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport = tcp
        peer = tcp.get_extra_info("peername")
        if not peer or not self.server.peer_allowed(peer[0]):
            self.closed = True
            self.server.events.peer_rejected()
            self.server.log.warning("FastAGI connection from %s refused: not in agi.allowed_peers",
                                    peer[0] if peer else "unknown peer")
            tcp.abort()
            return
        self._write = tcp.write
        self.server.track(self, True)
        self.deadline = perf_counter() + self.server.header_timeout

    def data_received(self, data: bytes) -> None:
        pending = self._pending
        if pending is not None:  # the hot path: one plain "200 result=N" answering the command out
            reply = known_answer(data)
            if reply is not None and self._replies is None and not pending.done():
                self._pending = None
                self.deadline = None
                self._seconds.append(perf_counter() - self._sent_at)
                pending.set_result(reply)
                return
            replies = self._replies
            reply = plain_reply(data) if replies is None else replies.plain(data)
            if reply is not None and reply.result != "-1" and not pending.done():
                self._pending = None
                self.deadline = None
                self._seconds.append(perf_counter() - self._sent_at)
                pending.set_result(reply)
                return
            if reply is not None:
                self._on_events([reply])
                return
        header = self._header
        if header is not None:  # a header in pieces (Asterisk writes one line per write): its decoder's
            try:
                env = header.feed(data)
            except AGIProtocolError as exc:
                self._protocol_fault(exc)
                return
            if env is None:
                return
            data = header.remainder
        elif self._in_header:
            whole = whole_header(data)
            if whole is None:  # not the usual header in one piece: a decoder from this piece on
                self._header = HeaderDecoder(first_piece_read=True)
                self.data_received(data)
                return
            env, data = whole
        else:
            env = None
        if env is not None:
            self._in_header = False
            self._header = None
            self.deadline = None
            self._begin(env)
            if not data:
                return
        replies = self._replies
        if replies is None:
            replies = self._replies = ReplyDecoder()
        try:
            events = replies.feed(data)
        except AGIProtocolError as exc:
            self._protocol_fault(exc)
            return
        self._on_events(events)

    def _on_events(self, events: list[ReplyEvent]) -> None:
        for event in events:
            if event.__class__ is HangupNotice:
                self.hung_up = True
                self._mark_gone()
                continue
            pending = self._pending
            if pending is not None and not pending.done():
                self._pending = None
                self.deadline = None
                self._seconds.append(perf_counter() - self._sent_at)
                outcome = checked_reply(self._verb, cast(AGIReply, event))
                if outcome is event:
                    pending.set_result(outcome)
                else:
                    pending.set_exception(cast(Exception, outcome))
            else:
                self.server.events.protocol_error("unsolicited_reply")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed and not self.in_call:  # the call has ended (outcome recorded, untracked), or a refused peer
            return
        self.closed = True
        self._write = None
        self._mark_gone()
        self.deadline = None
        if self._in_header and not self.in_call:
            if self.transport is not None and self in self.server.connections:
                self.server.events.protocol_error("header_eof")
            self._in_header = False
            self._header = None
        if self._pending is not None and not self._pending.done():
            if not self.hung_up:
                self.server.events.protocol_error("command_eof")
            self._pending.set_exception(ChannelClosed("FastAGI connection closed while waiting for a reply"))
            self._pending = None
        if not self.in_call:
            self.server.track(self, False)

    # --- CommandLink ------------------------------------------------------------------------------
    def gone(self) -> asyncio.Future[None]:
        """Resolves when Asterisk says the caller hung up or the connection closes (even with no command out)."""
        if self._gone is None:
            self._gone = self.server.loop.create_future()
            if self.hung_up or self.closed:
                self._gone.set_result(None)
        return self._gone

    def _mark_gone(self) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    def command(self, verb: str, *args: str, allowance: float | None = 0.0) -> asyncio.Future[AGIReply]:
        """The channel's `command` (`CommandLink.command`): encodes and writes one command; the returned future
        gets its reply as `checked_reply` judges it (or ChannelClosed / CommandTimeout)."""
        if self.hung_up and verb not in AFTER_HANGUP_VERBS:
            raise CallerHungUp(f"{verb} not sent: the caller has hung up")
        line = encoded_line((verb, args))  # a line sent before: no Python call into the codec
        if line is None:
            line = format_command(verb, *args)
        write = self._write
        if write is None:  # not yet, or no longer, connected (`closed`)
            raise ChannelClosed("FastAGI connection is closed")
        if self._pending is not None:
            raise RuntimeError("a channel runs one AGI command at a time")
        future: asyncio.Future[AGIReply] = self._create_future()
        self._pending = future
        self._verb = verb
        seconds = self._timings.get(verb)
        self._seconds = self.server.seconds_for(verb) if seconds is None else seconds
        self._sent_at = now = perf_counter()
        self.deadline = None if allowance is None else now + self._timeout + allowance
        write(line)
        return future

    # --- the call: its flow as this connection's task, then the status for the dialplan ---------------------
    def _begin(self, env: AGIEnvironment) -> None:
        """Starts the call: its flow runs as the connection's own task (no coroutine around it, so each reply
        resumes one frame fewer); how it ended is read by `_flow_done`, a done-callback."""
        server = self.server
        server.events.session_started()
        self.in_call = True
        channel = self.channel = Channel(env, self)
        flow = server.routes.get(env.script)
        if flow is None:
            server.log.error("call %s asked for FastAGI script %r, which no flow serves (known: %s)",
                             env.uniqueid, env.script, ", ".join(sorted(server.routes)) or "none")
            self._send_status("FAILED", "no_route")
            return
        try:
            # A Task made here, named: loop.create_task would format a new "Task-N" name per call (the service
            # sets no task factory).
            task = asyncio.Task(flow(channel), loop=server.loop, name=TASK_NAME)
        except Exception as exc:  # a flow that fails before it is a coroutine (a broken route)
            self._flow_failed(exc)
            return
        task.add_done_callback(self._flow_done)
        self.task = task

    def _flow_done(self, task: asyncio.Task[None]) -> None:
        """The flow's task ended: sends DONE, or FAILED (the dialplan's fallback), or nothing to a gone channel."""
        self.task = None
        exc = BrokenPipeError("flow cancelled") if task.cancelled() else task.exception()
        if exc is None:
            channel = self.channel
            if channel is not None and channel.status is None and not self.hung_up:
                self._send_status("DONE", "completed")
            else:
                self._end("completed")
        else:
            self._flow_failed(exc)

    def _flow_failed(self, exc: BaseException) -> None:
        server = self.server
        env = self.channel.env if self.channel is not None else None
        uniqueid, script = (env.uniqueid, env.script) if env is not None else (None, None)
        if isinstance(exc, CallerHungUp):
            self._end("hangup")
        elif isinstance(exc, CommandTimeout):
            server.events.protocol_error("command_timeout")
            server.log.error("call %s: %s", uniqueid, exc)
            self._end("timeout")
        else:  # one failing flow must never affect another call
            if isinstance(exc, AGICommandFailed):
                server.log.error("call %s: flow %r: %s", uniqueid, script, exc)
            else:
                server.log.error("call %s: flow %r failed", uniqueid, script, exc_info=exc)
            if self.closed or self.hung_up:
                self._end("error")
            else:
                self._send_status("FAILED", "error", marking_failed=True)

    def _send_status(self, value: str, outcome: str, marking_failed: bool = False) -> None:
        """Writes SWITCHBOARD_STATUS for the dialplan; the reply's done-callback ends the call."""
        try:
            reply = self.command("SET VARIABLE", STATUS_VARIABLE, value)
        except Exception as exc:
            self._status_failed(exc, value, outcome, marking_failed)
            return
        reply.add_done_callback(lambda future: self._status_sent(future, value, outcome, marking_failed))

    def _status_sent(self, future: asyncio.Future[AGIReply], value: str, outcome: str, marking_failed: bool) -> None:
        exc = BrokenPipeError("status cancelled") if future.cancelled() else future.exception()
        if exc is None:
            if self.channel is not None:
                self.channel.status = value
            self._end(outcome)
        else:
            self._status_failed(exc, value, outcome, marking_failed)

    def _status_failed(self, exc: BaseException, value: str, outcome: str, marking_failed: bool) -> None:
        """As a flow's own SET VARIABLE failing would be: a hang-up or timeout ends the call so; another failure
        of DONE sends FAILED instead; a failure to mark the call failed is only logged."""
        server = self.server
        uniqueid = self.channel.env.uniqueid if self.channel is not None else None
        if marking_failed:
            server.log.warning("call %s: could not mark the call failed (%s)", uniqueid, type(exc).__name__)
            self._end(outcome)
        elif isinstance(exc, CallerHungUp):
            self._end("hangup" if outcome == "completed" else outcome)
        elif isinstance(exc, CommandTimeout):
            server.events.protocol_error("command_timeout")
            server.log.error("call %s: %s", uniqueid, exc)
            self._end("timeout")
        else:
            server.log.error("call %s: SWITCHBOARD_STATUS=%s: %s", uniqueid, value, exc)
            if value == "DONE" and not self.closed and not self.hung_up:
                self._send_status("FAILED", "error", marking_failed=True)
            else:
                self._end("error")

    def _end(self, outcome: str) -> None:
        """The call is over: its outcome is recorded and the connection closed."""
        server = self.server
        server.events.session_ended(outcome)
        if len(self._seconds) > MAX_PENDING_TIMINGS:
            server.fold_timings()
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        self._write = None
        self.in_call = False
        self.channel = None
        server.track(self, False)

    def _command_timed_out(self) -> None:
        future, self._pending = self._pending, None
        if future is not None and not future.done():
            future.set_exception(CommandTimeout(f"no reply to {self._verb} from Asterisk in time; "
                                                "connection closed"))
        self.abort("command timeout")

    def deadline_passed(self) -> None:
        """Called by the server's sweep: the header or the pending command took too long."""
        self.deadline = None
        if self._pending is not None:
            self._command_timed_out()
        elif self._in_header:
            self._in_header = False
            self._header = None
            self.server.events.protocol_error("header_timeout")
            self.server.log.warning("FastAGI header not complete within %.1fs; connection closed",
                                    self.server.header_timeout)
            self.abort("header timeout")

    def _protocol_fault(self, exc: AGIProtocolError) -> None:
        self._in_header = False
        self._header = None
        self.server.events.protocol_error(exc.kind)
        self.server.log.error("FastAGI protocol error (%s): %s", exc.kind, exc)
        self.abort(exc.kind)

    def abort(self, reason: str) -> None:
        """Closes the connection at once (`reason` goes to the debug log)."""
        self.server.log.debug("FastAGI connection aborted: %s", reason)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

