"""Unit tests of the device-update fold: on every short sequence it leaves the outcome of applying each update."""
from __future__ import annotations

import itertools
import random

import pytest

from switchboard.router.device_batch import MAX_DEVICES, batches, fold

STATES = (None, "logged_out", "available", "reserved", "ringing", "on_call", "wrap_up", "paused")
EVENTS = ("ringing", "on_call", "idle")
FREED_TO = ("available", "wrap_up", "reserved")  # what freeing leaves: free, wrap-up, or given a waiting call


def apply(states: dict[str, str | None], updates: list[tuple[str, str]], freed_to: str) -> list[str]:
    """agent_device.lua's rules (prelude.lua `device_event`) on a model: changes `states`, returns the agents freed,
    in order (each free is an offer decision: who is freed, and when, decides which waiting call an agent gets)."""
    freed = []
    for agent, event in updates:
        state = states[agent]
        if state is None or state == "logged_out":
            continue
        if event == "ringing" and state == "reserved":
            states[agent] = "ringing"
        elif event == "on_call" and state in ("available", "reserved", "ringing", "wrap_up"):
            states[agent] = "on_call"
        elif event == "idle" and state == "on_call":
            states[agent] = freed_to
            freed.append(agent)
    return freed


def outcome(start: dict[str, str | None], updates: list[tuple[str, str]], freed_to: str
            ) -> tuple[dict[str, str | None], list[str]]:
    states = dict(start)
    return states, apply(states, updates, freed_to)


def test_fold_keeps_the_outcome_of_every_sequence_of_one_agent() -> None:
    """For every sequence of up to 7 device events from every agent state, the folded updates end in the same
    state and free the agent the same number of times as the updates one by one."""
    checked = 0
    for length in range(1, 8):
        for events in itertools.product(EVENTS, repeat=length):
            updates = [("a", e) for e in events]
            folded = fold(updates)
            assert len(folded) <= len(updates)
            for state, freed_to in itertools.product(STATES, FREED_TO):
                assert outcome({"a": state}, folded, freed_to) == outcome({"a": state}, updates, freed_to), events
                checked += 1
    assert checked == sum(3 ** n for n in range(1, 8)) * len(STATES) * len(FREED_TO)


def test_fold_keeps_the_order_of_frees_across_agents() -> None:
    """On random interleavings of three agents' events (with trunk-free agent ids), the folded updates free the
    same agents in the same order and leave every state as the updates one by one; nothing is reordered."""
    rng = random.Random(7)
    for _ in range(3000):
        updates = [(rng.choice("abc"), rng.choice(EVENTS)) for _ in range(rng.randint(1, 14))]
        folded = fold(updates)
        positions = iter(range(len(updates)))
        assert all(any(u == updates[i] for i in positions) for u in folded)  # a subsequence, in arrival order
        start = {a: rng.choice(STATES) for a in "abc"}
        for freed_to in FREED_TO:
            assert outcome(start, folded, freed_to) == outcome(start, updates, freed_to), (updates, start)


@pytest.mark.parametrize(("updates", "folded"), [
    ([("a", "ringing"), ("a", "on_call"), ("a", "idle")], [("a", "on_call"), ("a", "idle")]),
    ([("a", "on_call"), ("b", "on_call"), ("a", "on_call")], [("a", "on_call"), ("b", "on_call")]),
    ([("a", "on_call"), ("a", "idle")], [("a", "on_call"), ("a", "idle")]),  # idle alone would not free her
    ([("a", "idle"), ("a", "ringing")], [("a", "idle"), ("a", "ringing")]),  # freed first, then rung again
    ([("a", "on_call"), ("a", "ringing"), ("a", "on_call")], [("a", "on_call")]),
])
def test_fold_examples(updates: list[tuple[str, str]], folded: list[tuple[str, str]]) -> None:
    """Repeats and ringing-then-in-use go; an in use before idle and anything after idle stay."""
    assert fold(updates) == folded


def test_batches_split_in_order_at_the_script_bound() -> None:
    """450 updates go as 200 + 200 + 50, in arrival order; none is an empty list."""
    updates = [(f"a{i}", "on_call") for i in range(450)]
    runs = batches(updates)
    assert [len(r) for r in runs] == [MAX_DEVICES, MAX_DEVICES, 50]
    assert [u for run in runs for u in run] == updates
    assert batches([]) == []
