"""Every IVR node kind, by the name a flow's `type:` uses: what the loader, engine, graph and docs read.

To add a kind: write one module in this package (see `play.py` for the smallest) holding
1. a frozen dataclass subclassing `flow_model.NodeSpec` with every field and its default (WAITS / ENDS set when
   the node waits for the caller's keys / ends the flow; `targets()` naming the fields that go to other nodes),
2. a runner `async def run(spec, step: Step) -> Next` (the next node's name, `EnterFlow`, or None to end),
3. `DEFINITION = KindDefinition(...)` with its field rules (checker from `flow_loader`'s generic ones or its
   own, required or not, and the docs columns), a one-line summary and its graph shape;
then add one line to `KINDS` below and regenerate the docs tables
(`python -m switchboard.ivr.nodes.reference --write docs/dialplans.md`, after adding a `### kind` section).
The order of `KINDS` is the order validation messages list the kinds in.
"""
from __future__ import annotations

from typing import Any, Mapping

from switchboard.ivr.nodes import (branch, collect, goto, hangup, hours, identify, language, menu, play, route,
                                   survey, transfer, voicemail)
from switchboard.ivr.nodes import set as set_variables
from switchboard.ivr.nodes.kind import KindDefinition

KINDS: Mapping[str, KindDefinition[Any]] = {definition.name: definition for definition in (
    play.DEFINITION,
    menu.DEFINITION,
    collect.DEFINITION,
    branch.DEFINITION,
    hours.DEFINITION,
    language.DEFINITION,
    set_variables.DEFINITION,
    route.DEFINITION,
    transfer.DEFINITION,
    voicemail.DEFINITION,
    hangup.DEFINITION,
    goto.DEFINITION,
    survey.DEFINITION,
    identify.DEFINITION,
)}

# Kinds that wait for the caller (a cycle through none of these would spin without a caller's action).
WAITING_KINDS = frozenset(name for name, d in KINDS.items() if d.spec_type.WAITS)
# Kinds that end the flow (no `next`).
TERMINAL_KINDS = frozenset(name for name, d in KINDS.items() if d.spec_type.ENDS)
