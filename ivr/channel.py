"""One call as its flow sees it: typed AGI verbs over a command link, and the errors a flow must handle.

A flow reads like a short script of verbs (`answer`, `stream_file`, `get_data`, `exec("Dial", ...)`). Each verb
is encoded by the codec before anything is sent (an unsafe argument never reaches Asterisk), waits for exactly its
own reply, and turns Asterisk's answers into results or one of these exceptions:

* `CallerHungUp` — the caller has gone (`result=-1`, `511` on a dead channel, or the link closed);
* `CommandTimeout` — no reply in time; the link is closed because later replies could no longer be matched;
* `AGICommandFailed` — Asterisk refused the command (`510`, `520`, an application that does not exist).

Once Asterisk has said the caller hung up, only the verbs in `AFTER_HANGUP_VERBS` are still sent (reading how a
dial ended); any other raises `CallerHungUp` here, without relying on Asterisk's `511`.
"""
from __future__ import annotations

from typing import Awaitable, Mapping, Protocol

from switchboard.ivr.agi_codec import AGIEnvironment, AGIReply
from switchboard.ivr.channel_variables import STATUS as STATUS_VARIABLE  # re-exported for its users
from switchboard.ivr.variable_batch import plan_writes, read_expression, split_values

__all__ = ["STATUS_VARIABLE", "CallerHungUp", "ChannelClosed", "CommandTimeout", "AGICommandFailed", "CommandLink",
           "CommandSender", "Channel", "PROMPT_ALLOWANCE", "AFTER_HANGUP_VERBS", "checked_reply"]
# Prompts have no length known in advance: a STREAM FILE may run this long beyond the command timeout.
PROMPT_ALLOWANCE = 600.0
# What a flow may still send once the caller has hung up: reading DIALSTATUS / ANSWEREDTIME after a dial
# (ivr/queue_wait.py, ivr/nodes/dialling.py). Asterisk allows these on a dead channel; nothing else is needed.
AFTER_HANGUP_VERBS = frozenset({"GET VARIABLE", "GET FULL VARIABLE"})


class CallerHungUp(Exception):
    """The caller hung up; the flow should end, recording what it knows."""


class ChannelClosed(CallerHungUp):
    """The FastAGI connection closed; the call can no longer be controlled."""


class CommandTimeout(Exception):
    """Asterisk sent no reply within the command's timeout; the connection has been closed."""


class AGICommandFailed(Exception):
    """Asterisk refused a command (unknown, bad usage, or an application that does not exist)."""

    def __init__(self, verb: str, reply: AGIReply) -> None:
        super().__init__(f"{verb} failed: {reply.code} {reply.text or reply.result}".strip())
        self.verb = verb
        self.reply = reply


def checked_reply(verb: str, reply: AGIReply) -> AGIReply | Exception:
    """The reply a flow gets for `verb`, or the exception it raises instead (511 and result=-1: hung up)."""
    if reply.code == 200:
        return reply if reply.result != "-1" else CallerHungUp(f"{verb} returned -1")
    if reply.code == 511:
        return CallerHungUp(f"{verb} refused on a dead channel")
    return AGICommandFailed(verb, reply)


class CommandSender(Protocol):
    """Sends one command of a channel (see `CommandLink.command`)."""

    def __call__(self, verb: str, *args: str, allowance: float | None = 0.0) -> Awaitable[AGIReply]: ...


class CommandLink(Protocol):
    """The connection under a channel: sends one command and returns its reply."""

    @property
    def hung_up(self) -> bool: ...

    def command(self, verb: str, *args: str, allowance: float | None = 0.0) -> Awaitable[AGIReply]:
        """Sends one command; `allowance` is the command's own duration beyond the command timeout (None: it may
        take as long as it takes). The awaitable gives the reply as `checked_reply` judges it (the reply, or the
        exception it raises instead), or ChannelClosed / CommandTimeout.

        Raises at once, nothing sent: `UnsafeArgument` / `CommandTooLong` from the codec (`encoded_line`, else
        `format_command`), and `CallerHungUp` once the caller has hung up unless the verb is in
        `AFTER_HANGUP_VERBS`."""
        ...

    def gone(self) -> Awaitable[None]: ...


class Channel:
    """The verbs a flow uses on one call."""

    # The link's own `command`, bound once per call: a verb costs one Python call and one coroutine level, with
    # no layer of the channel's in between (bench/agi_throughput.py). See `CommandLink.command`.
    command: CommandSender
    __slots__ = ("env", "_link", "command", "status")

    def __init__(self, env: AGIEnvironment, link: CommandLink) -> None:
        self.env = env
        self._link = link
        self.command = link.command
        self.status: str | None = None  # last value given to SWITCHBOARD_STATUS

    @property
    def hung_up(self) -> bool:
        """True once Asterisk has said the caller hung up."""
        return self._link.hung_up

    def until_hangup(self) -> Awaitable[None]:
        """Resolves when the caller hangs up, also while no command is running (e.g. waiting in line)."""
        return self._link.gone()

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        await self.command("HANGUP")

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        """Plays a prompt; returns the digit that interrupted it, or None when it played to the end."""
        reply = await self.command("STREAM FILE", prompt, escape_digits, allowance=PROMPT_ALLOWANCE)
        return _digit(reply)

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        """Says a whole number in the channel's language (SAY NUMBER); returns the digit that interrupted it."""
        reply = await self.command("SAY NUMBER", str(int(number)), escape_digits, allowance=PROMPT_ALLOWANCE)
        return _digit(reply)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Waits for one digit; None when the caller pressed nothing in time."""
        reply = await self.command("WAIT FOR DIGIT", str(timeout_ms), allowance=max(timeout_ms, 0) / 1000)
        return _digit(reply)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> tuple[str, bool]:
        """Plays a prompt and collects up to `max_digits` (`#` ends early); returns (digits, timed_out)."""
        reply = await self.command("GET DATA", prompt, str(timeout_ms), str(max_digits),
                                   allowance=PROMPT_ALLOWANCE + timeout_ms / 1000 * max(max_digits, 1))
        return reply.result, reply.data == "timeout"

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)
        if name == STATUS_VARIABLE:
            self.status = value

    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
        """Sets several variables in as few commands as possible: one `EXEC MSet` (ivr/variable_batch.py), SET
        VARIABLE for a lone pair; returns the names not sent because their values hold CR, LF or NUL."""
        plan = plan_writes(pairs)
        for batch in plan.batches:
            await self.exec("MSet", *batch)
        for name, value in plan.singles:
            await self.command("SET VARIABLE", name, value)
        if STATUS_VARIABLE in pairs and STATUS_VARIABLE not in plan.refused:
            self.status = pairs[STATUS_VARIABLE]
        return plan.refused

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or dialplan function (`CALLERID(num)`); None when unset."""
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def get_variables(self, *names: str) -> tuple[str | None, ...]:
        """Several variables in one GET FULL VARIABLE (empty or unset: None); one GET VARIABLE each when a value
        held the separator (ivr/variable_batch.py)."""
        if len(names) > 1:
            reply = await self.command("GET FULL VARIABLE", read_expression(names))
            values = split_values(reply.data if reply.result == "1" else None, len(names))
            if values is not None:
                return values
        return tuple([(await self.get_variable(name)) or None for name in names])

    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
        """Runs a dialplan application (arguments joined with `,`); returns its result code."""
        reply = await self.command("EXEC", application, ",".join(args), allowance=allowance)
        if reply.result == "-2":
            raise AGICommandFailed("EXEC", reply)
        return reply.result_int or 0

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, str(level))


def _digit(reply: AGIReply) -> str | None:
    code = reply.result_int
    return chr(code) if code and code > 0 else None
