"""The loaded form of the YAML call flows: nodes, flows, the dialled-number map and where each came from.

A node keeps its fields as validated plain values plus the `file:line:column` of each, so the engine can run it
and any later message (runtime or validation) can name the place an admin must edit. The schema of every node kind
lives in `flow_loader`; this module is only the shape that validation produces and the engine consumes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from switchboard.yamldoc.positions import Place as Place  # re-exported: many modules import it from here

# Node kinds that wait for the caller (a cycle through none of these would spin without a caller's action).
WAITING_KINDS = frozenset({"menu", "collect", "language", "identify", "survey"})
# Node kinds that end the flow (no `next`).
TERMINAL_KINDS = frozenset({"hangup", "transfer", "voicemail", "route", "goto"})


@dataclass(frozen=True)
class Node:
    """One step of a flow."""

    name: str
    kind: str
    fields: Mapping[str, Any]
    place: Place
    places: Mapping[str, Place] = field(default_factory=dict)
    intent: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def targets(self) -> list[tuple[str, str]]:
        """(field, node name) for every node this one can go to within its flow."""
        out: list[tuple[str, str]] = []
        for key in ("next", "on_failure", "on_invalid", "on_no_input", "open", "closed", "holiday", "else",
                    "overflow", "on_verified", "after"):
            value = self.fields.get(key)
            if isinstance(value, str):
                out.append((key, value))
        for key in ("choices",):
            for _, target in (self.fields.get(key) or {}).items():
                if self.kind == "menu":
                    out.append((key, target))
        for rule in self.fields.get("conditions") or ():
            out.append(("conditions", rule["goto"]))
        return out


@dataclass(frozen=True)
class Flow:
    """A named flow: its nodes and the one it starts at."""

    name: str
    start: str
    nodes: Mapping[str, Node]
    place: Place


@dataclass(frozen=True)
class Dialplan:
    """Everything under `dialplans/`: flows, the dialled-number map, the routing skills; one content version."""

    flows: Mapping[str, Flow]
    numbers: Mapping[str, str]
    default_flow: str | None
    skills: frozenset[str]
    sources: Mapping[str, bytes]

    @property
    def version(self) -> str:
        """A short content hash of every source file: what `switchboard_dialplan_info` exports."""
        digest = hashlib.sha256()
        for path in sorted(self.sources):
            digest.update(path.encode() + b"\0" + self.sources[path] + b"\0")
        return digest.hexdigest()[:12]

    def flow_for(self, dialled: str | None) -> Flow | None:
        """The flow for a dialled number (DNID or extension), else the default flow."""
        name = self.numbers.get(dialled or "") or self.default_flow
        return self.flows.get(name) if name else None
