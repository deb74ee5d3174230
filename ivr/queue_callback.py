"""The in-queue callback as the caller meets it: the `callback` option of the route node, its checks, and the short
conversation that turns a waiting caller into a callback request that keeps the caller's place in line.

    callback: {offer_after: 60, or_when_estimate_over: 300, key: "1", confirm_number: true,
               max_attempts: 3, retry_after: 120, order: agent_first, later_key: "2"}

At `offer_after` seconds in line (or on entry when the estimate then is over `or_when_estimate_over` seconds) the
music stops and the caller hears "to call back, press <key>" (Asterisk core sounds `vm-tocallback`, `vm-press`,
`digits/N`). Pressing it: the number to call is the caller ID when it is a valid number (said back with "to call
this number ... if correct press 1" when `confirm_number`), else keyed in ending with # ("you entered ... if
correct press 1"); numbers are checked with phonenumbers in the desk's region. With `later_key` the caller may key
a time of day HHMM and # instead (a scheduled callback: "call me after 14:00", in `timezone`, default UTC). The desk (the `CallbackDesk` port, the
service's callback desk) takes the request while the caller's call is still in line, so its place is kept; the
caller hears "thank you, goodbye" and the call ends with outcome `callback`. Nothing here does I/O except through
the channel and the port; the wait loop (ivr/queue_wait.py) decides when to offer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol
import zoneinfo

import phonenumbers

from switchboard.ivr.flow_model import Place
from switchboard.ivr.nodes.kind import Report
from switchboard.yamldoc.positions import place_of
from switchboard.yamldoc.problems import show

ORDERS = ("agent_first", "customer_first")
KEYS = ("offer_after", "or_when_estimate_over", "key", "confirm_number", "max_attempts", "retry_after", "order",
        "later_key", "timezone")
OFFER_KEYS = set("0123456789*")
ANSWER_WAIT_MS = 5000  # how long the caller has to press a key after a question
NUMBER_TRIES = 2
MAX_NUMBER_DIGITS = 16

# the prompts (Asterisk core sounds; tests/e2e/test_queue_prompts.py finds each in every language the example
# dialplans use, e.g. Debian's asterisk-core-sounds-en and -fr)
OFFER = ("vm-tocallback", "vm-press")
THIS_NUMBER = "to-call-this-number"
YOU_ENTERED = "you-entered"
IF_CORRECT = "if-correct-press"
ENTER_NUMBER = ("vm-enter-num-to-call", "astcc-followed-by-the-pound-key")
TRY_AGAIN = "please-try-again"
ASK_TIME = ("time", "astcc-followed-by-the-pound-key")  # "time ... followed by the pound key" (HHMM#)
THANKS = ("auth-thankyou", "goodbye")
DIGITS = tuple(f"digits/{d}" for d in "0123456789")  # keys and numbers said back one digit at a time
PROMPTS = frozenset({*OFFER, THIS_NUMBER, YOU_ENTERED, IF_CORRECT, *ENTER_NUMBER, TRY_AGAIN, *ASK_TIME, *THANKS,
                     *DIGITS})


@dataclass(frozen=True)
class CallbackPlan:
    """The checked `callback` option of a route node."""

    offer_after: float | None = None
    or_when_estimate_over: float | None = None
    key: str = "1"
    confirm_number: bool = True
    max_attempts: int = 3
    retry_after: float = 120.0
    order: str = "agent_first"
    later_key: str | None = None
    timezone: str = "UTC"  # the zone of the times keyed for a scheduled callback (IANA name)

    def due_at(self, entry_estimate: float | None) -> float | None:
        """Seconds in line at which the offer is made (once); None when it never is (no trigger fires)."""
        if (self.or_when_estimate_over is not None and entry_estimate is not None
                and entry_estimate > self.or_when_estimate_over):
            return 0.0
        return self.offer_after


@dataclass(frozen=True)
class CallbackAsk:
    """A caller's callback request as the desk takes it; `not_before` (epoch seconds) for a scheduled one."""

    uid: str
    number: str          # E.164
    customer: str
    queue: str
    language: str
    max_attempts: int
    retry_after: float
    order: str
    not_before: float | None = None


class CallbackDesk(Protocol):
    """Takes callback requests (implemented by the router's callback desk, wired in the composition root)."""

    @property
    def region(self) -> str:
        """The region national numbers are read in (ISO 3166 code, e.g. US)."""
        ...

    def offered(self, queue: str) -> None:
        """A caller in `queue` was offered a callback (metrics)."""
        ...

    async def take(self, ask: CallbackAsk) -> str | None:
        """Turns the caller's waiting call into a request with the same place in line; returns its id, or None
        when the call is no longer waiting (an agent was just reserved for it)."""
        ...

    async def reached_agent(self, number: str) -> None:
        """The customer with this E.164 number called in and reached an agent: their pending requests end."""
        ...


async def cancel_on_reaching_agent(desk: CallbackDesk, caller_id: str | None) -> None:
    """A caller who reached an agent needs no callback any more (never raises: the call goes on regardless)."""
    number = e164(caller_id, desk.region)
    if number is None:
        return
    try:
        await desk.reached_agent(number)
    except Exception as exc:  # the desk's store away: the callback may still ring; the call must not suffer
        _ = exc


class CallbackChannel(Protocol):
    """The channel verbs the callback conversation needs."""

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...


def e164(raw: str | None, region: str) -> str | None:
    """`raw` as an E.164 number when it is a valid one (read in `region` when national), else None."""
    if not raw or len(raw) > 32 or any(c in raw for c in "\r\n\0"):
        return None
    try:
        parsed = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def next_time_of_day(hhmm: str, now: datetime) -> datetime | None:
    """The next moment at `hhmm` (24-hour, 4 digits) after `now` (same zone), None when it is no time."""
    if len(hhmm) != 4 or not hhmm.isdigit():
        return None
    hour, minute = int(hhmm[:2]), int(hhmm[2:])
    if hour > 23 or minute > 59:
        return None
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


async def _say_digits(channel: CallbackChannel, digits: str, escape: str = "") -> str | None:
    for digit in digits:
        if digit.isdigit():
            key = await channel.stream_file(DIGITS[int(digit)], escape)
            if key:
                return key
    return None


async def _play(channel: CallbackChannel, prompts: tuple[str, ...], escape: str = "") -> str | None:
    for prompt in prompts:
        key = await channel.stream_file(prompt, escape)
        if key:
            return key
    return None


async def offered(channel: CallbackChannel, plan: CallbackPlan) -> str | None:
    """Plays the offer; returns "now" (the key), "later" (the later key) or None (nothing pressed)."""
    keys = plan.key + (plan.later_key or "")
    key = await _play(channel, OFFER, keys) or await _say_digits(channel, plan.key, keys)
    if not key:
        key = await channel.wait_for_digit(ANSWER_WAIT_MS)
    if key == plan.key:
        return "now"
    if plan.later_key and key == plan.later_key:
        return "later"
    return None


async def _keyed(channel: CallbackChannel, limit: int) -> str:
    """Digits keyed until # (or a pause, or `limit` digits)."""
    typed = ""
    while len(typed) < limit:
        key = await channel.wait_for_digit(ANSWER_WAIT_MS)
        if not key or key == "#":
            break
        if key.isdigit():
            typed += key
    return typed


async def _confirmed(channel: CallbackChannel, lead: str, digits: str) -> bool:
    key = await channel.stream_file(lead, "1") or await _say_digits(channel, digits, "1")
    key = key or await channel.stream_file(IF_CORRECT, "1") or await channel.stream_file(DIGITS[1], "1")
    return (key or await channel.wait_for_digit(ANSWER_WAIT_MS)) == "1"


async def number_to_call(channel: CallbackChannel, plan: CallbackPlan, caller_id: str | None,
                         region: str) -> str | None:
    """The E.164 number to call back: the caller ID (confirmed when `confirm_number`), else keyed in and confirmed;
    None when the caller gives no valid number."""
    known = e164(caller_id, region)
    if known is not None:
        if not plan.confirm_number or await _confirmed(channel, THIS_NUMBER, known):
            return known
    for _ in range(NUMBER_TRIES):
        await _play(channel, ENTER_NUMBER)
        typed = await _keyed(channel, MAX_NUMBER_DIGITS)
        number = e164(typed, region)
        if number is not None and await _confirmed(channel, YOU_ENTERED, typed):
            return number
        await channel.stream_file(TRY_AGAIN)
    return None


async def time_wanted(channel: CallbackChannel, now: datetime) -> datetime | None:
    """A time of day keyed as HHMM and # ("call me after 14:00"), confirmed; None when none is given."""
    await _play(channel, ASK_TIME)
    typed = await _keyed(channel, 4)
    at = next_time_of_day(typed, now)
    if at is None or not await _confirmed(channel, YOU_ENTERED, typed):
        return None
    return at


async def converse(channel: CallbackChannel, plan: CallbackPlan, desk: CallbackDesk, *, uid: str,
                   caller_id: str | None, customer: str, queue: str, language: str,
                   now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> str | None:
    """The offer and, when taken, the conversation and the request: returns the request id (the caller then
    hears thanks and the call ends) or None (the caller keeps waiting in line)."""
    choice = await offered(channel, plan)
    if choice is None:
        return None
    not_before: float | None = None
    if choice == "later":
        at = await time_wanted(channel, now().astimezone(zoneinfo.ZoneInfo(plan.timezone)))
        if at is None:
            await channel.stream_file(TRY_AGAIN)
            return None
        not_before = at.timestamp()
    number = await number_to_call(channel, plan, caller_id, desk.region)
    if number is None:
        return None
    request = await desk.take(CallbackAsk(uid, number, customer, queue, language, plan.max_attempts,
                                          plan.retry_after, plan.order, not_before))
    if request is not None:
        await _play(channel, THANKS)
    return request


def _seconds(key: str, value: Any, low: float, high: float, place: Place, report: Report) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        report(place, f"{key}: expected seconds from {low:g} to {high:g}, got {show(value)}")
        return None
    return float(value)


def check_callback(value: Any, place: Place, report: Report) -> Any:
    """The `callback` mapping of a route node → a CallbackPlan (problems reported at each key's place)."""
    if not isinstance(value, dict):
        report(place, "expected a mapping such as {offer_after: 60, key: \"1\"}, got " + show(value))
        return None
    fields: dict[str, Any] = {}
    ok = True
    for key, item in value.items():
        p = place_of(value, key, place)
        checked: Any = None
        if key not in KEYS:
            report(p, f"unknown callback option {show(key)}; use {', '.join(KEYS)}")
        elif key == "offer_after":
            checked = _seconds(key, item, 0, 3600, p, report)
        elif key == "or_when_estimate_over":
            checked = _seconds(key, item, 0, 86400, p, report)
        elif key == "retry_after":
            checked = _seconds(key, item, 10, 86400, p, report)
        elif key in ("key", "later_key"):
            text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
            if not isinstance(text, str) or len(text) != 1 or text not in OFFER_KEYS:
                report(p, f"{key}: expected one key, 0-9 or * (quote it: \"1\"), got {show(item)}")
            else:
                checked = text
        elif key == "confirm_number":
            if not isinstance(item, bool):
                report(p, f"confirm_number: expected true or false, got {show(item)}")
            else:
                checked = item
        elif key == "max_attempts":
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 10:
                report(p, f"max_attempts: expected a whole number from 1 to 10, got {show(item)}")
            else:
                checked = item
        elif key == "timezone":
            try:
                zoneinfo.ZoneInfo(item if isinstance(item, str) else "")
                checked = item
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                report(p, f"timezone: expected an IANA time zone such as Europe/London, got {show(item)}")
        elif key == "order":
            if item not in ORDERS:
                report(p, f"order: expected one of {', '.join(ORDERS)}, got {show(item)}")
            else:
                checked = item
        if checked is None:
            ok = False
        else:
            fields[key] = checked
    if not ok:
        return None
    plan = CallbackPlan(**fields)
    if plan.offer_after is None and plan.or_when_estimate_over is None:
        report(place, "callback is never offered: set offer_after and/or or_when_estimate_over")
        return None
    if plan.later_key is not None and plan.later_key == plan.key:
        report(place_of(value, "later_key", place), f"later_key: must differ from key ({plan.key})")
        return None
    return plan
