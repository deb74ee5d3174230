"""Agent device updates gathered in one read of AMI, folded before they go to Redis in one script call.

The AMI reader hands over a pass's events together (`ami.read_pause`), so the router sees each agent's device
states of the last tens of milliseconds at once. `fold` drops the updates that cannot change anything and keeps
the rest in arrival order, so the script's result is the one of every update applied in turn (agent_device.lua's
rules, router/lua/prelude.lua `device_event`):

* a repeat of the agent's previous kept event is dropped: ringing only moves a reserved agent, in use only an agent
  not already on a call, idle only an agent on a call, and none of them leaves the agent where it acts again;
* ringing directly followed (for that agent) by in use is dropped: in use from reserved and from ringing write the
  same, and nothing between them reads this agent.

Plain "last state wins" would not do: in use then idle in one pass must free the agent (and offer it a waiting call),
idle alone leaves a reserved agent reserved; idle then ringing must free the agent first. `tests/unit/
test_device_batch.py` checks the fold on every sequence against applying each update.
"""
from __future__ import annotations

from typing import Sequence

MAX_DEVICES = 200  # updates per script call (agent_devices.lua): one run stays short for every other client

Update = tuple[str, str]  # (agent id, event: ringing | on_call | idle)


def fold(updates: Sequence[Update]) -> list[Update]:
    """The updates that matter, in arrival order (see the module's rules)."""
    kept: list[Update | None] = []
    kept_of: dict[str, list[int]] = {}  # agent → positions of its kept updates in `kept`, oldest first
    for agent, event in updates:
        mine = kept_of.setdefault(agent, [])
        if mine and event == "on_call" and _event(kept[mine[-1]]) == "ringing":
            kept[mine.pop()] = None  # in use from reserved writes what ringing then in use would
        if mine and _event(kept[mine[-1]]) == event:
            continue  # a repeat of the agent's previous kept event: it would change nothing
        mine.append(len(kept))
        kept.append((agent, event))
    return [update for update in kept if update is not None]


def _event(update: Update | None) -> str:
    return update[1] if update is not None else ""


def batches(updates: Sequence[Update], size: int = MAX_DEVICES) -> list[list[Update]]:
    """The updates in script-sized runs, in order."""
    return [list(updates[i:i + size]) for i in range(0, len(updates), size)]
