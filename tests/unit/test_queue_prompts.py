"""The fixed prompts a caller in line can hear (announcements and the callback conversation) are exactly the names
each module declares in `PROMPTS`, the list tests/e2e/test_queue_prompts.py looks up in Asterisk's sounds."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone

from switchboard.ivr import queue_announcements, queue_callback
from switchboard.ivr.queue_announcements import AnnouncePlan, Heard, Play, heard, phrases
from switchboard.ivr.queue_callback import CallbackAsk, CallbackPlan, converse

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@dataclass
class ScriptedCaller:
    """A channel that notes every prompt streamed and answers each wait for a key from a script (then silence)."""

    keys: list[str]
    played: list[str] = field(default_factory=list)

    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
        self.played.append(prompt)
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self.keys.pop(0) if self.keys else None


@dataclass
class Desk:
    """A callback desk in the US region that takes (or, after an agent was just reserved, refuses) requests."""

    accept: bool = True
    region: str = "US"

    def offered(self, queue: str) -> None:
        return None

    async def take(self, ask: CallbackAsk) -> str | None:
        return "cb-1" if self.accept else None

    async def reached_agent(self, number: str) -> None:
        return None


# every way through the conversation: (caller ID, keys pressed, the desk takes it)
CONVERSATIONS = [
    ("+16175559876", [""], True),                                        # offer declined
    ("+16175559876", ["1", "1"], True),                                  # caller ID confirmed
    ("+16175559876", ["1", "2", *"2125550134", "#", "1"], True),         # caller ID refused, a number keyed
    (None, ["1", *"12", "#", *"12", "#"], True),                         # withheld, twice no valid number
    (None, ["2", *"1400", "#", "1", *"2125550134", "#", "1"], True),     # "after 14:00", then a keyed number
    (None, ["2", *"2599", "#"], True),                                   # an impossible time of day
    ("+16175559876", ["1", "1"], False),                                 # the desk refuses: no thanks
]


def test_announcements_play_exactly_their_declared_prompts() -> None:
    """issue 15: every prompt an announcement can play is in queue_announcements.PROMPTS, and each one declared is
    played by some announcement (so a new prompt cannot slip past the e2e check of Asterisk's sounds)."""
    plan = AnnouncePlan(position=True, estimate=True)
    played = {phrase.prompt for position in (1, 2, 9) for seconds in (None, 30.0, 60.0, 61.0, 1800.0)
              for phrase in phrases(heard(plan, position, seconds)) if isinstance(phrase, Play)}
    played |= {phrase.prompt for phrase in phrases(Heard(None, 5)) if isinstance(phrase, Play)}
    assert played == queue_announcements.PROMPTS


def test_the_callback_conversation_plays_exactly_its_declared_prompts() -> None:
    """issue 15: every prompt of the callback offer and conversation, on every way through it, is in
    queue_callback.PROMPTS, and each one declared is played on some way through it."""
    played: set[str] = set()
    for caller_id, keys, accept in CONVERSATIONS:
        for plan in (CallbackPlan(offer_after=0, later_key="2"), CallbackPlan(offer_after=0, key="*")):
            caller = ScriptedCaller(list(keys))
            asyncio.run(converse(caller, plan, Desk(accept), uid="u1", caller_id=caller_id, customer="c1",
                                 queue="billing", language="en", now=lambda: NOON))
            played |= set(caller.played)
    assert played == queue_callback.PROMPTS
