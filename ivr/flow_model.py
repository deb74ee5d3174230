"""The loaded form of the YAML call flows: nodes, flows, the dialled-number map and where each came from.

A node keeps its kind's typed fields (`Node.spec`, a frozen dataclass of `switchboard.ivr.nodes`) plus the
`file:line:column` of each written key, so the engine can run it and any later message (runtime or validation) can
name the place an admin must edit. The schema of every node kind lives in its module of `switchboard.ivr.nodes`;
this module is only the shape that validation produces and the engine consumes.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import ClassVar, Iterable, Mapping


from switchboard.yamldoc.positions import Place as Place  # re-exported: many modules import it from here


@dataclass(frozen=True)
class Prompts:
    """The validated value of a prompt field: the prompt names to play, by language ("" when not by language)."""

    by_language: Mapping[str, tuple[str, ...]]

    def for_language(self, language: str) -> tuple[str, ...]:
        """The prompts for `language`; else the language-less list; else the first list."""
        if not self.by_language:
            return ()
        return (self.by_language.get(language) or self.by_language.get("")
                or next(iter(self.by_language.values())))


NO_PROMPTS = Prompts({})  # what a required prompt field holds when it is missing (the load fails anyway)


@dataclass(frozen=True)
class NodeSpec:
    """The typed fields of one node; each kind of `switchboard.ivr.nodes` subclasses it as a frozen dataclass.

    Every field has a default: an optional field's default is the engine's, a required field's is an empty
    placeholder that only a node with validation errors (a load that fails) ever carries.
    """

    WAITS: ClassVar[bool] = False  # waits for the caller's keys (a loop needs one such node)
    ENDS: ClassVar[bool] = False   # ends the flow (no `next`)

    def targets(self) -> list[tuple[str, str]]:
        """(field, node name) for every node this one can go to within its flow, in the order checks report."""
        return []

    def entered_flow(self) -> str | None:
        """The flow this node continues in (a goto), else None."""
        return None

    def edge_label(self, key: str, target: str) -> str:
        """The graph label of the edge from `key` to `target` (the field's name; a menu shows its keys)."""
        return key

    def skills_asked(self) -> Iterable[str]:
        """The routing skills this node asks for (each must be defined in routing.yaml)."""
        return ()


@dataclass(frozen=True)
class Node:
    """One step of a flow."""

    name: str
    kind: str
    spec: NodeSpec
    place: Place
    places: Mapping[str, Place] = field(default_factory=dict)
    intent: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        """(field, node name) for every node this one can go to within its flow."""
        return self.spec.targets()


def node_targets(*pairs: tuple[str, str | None]) -> list[tuple[str, str]]:
    """The (field, node) pairs whose node is named (a missing or empty reference is no target)."""
    return [(key, name) for key, name in pairs if name]


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

    @functools.cached_property
    def version(self) -> str:
        """A short content hash of every source file: what `switchboard_dialplan_info` exports (computed once: every
        call records it)."""
        digest = hashlib.sha256()
        for path in sorted(self.sources):
            digest.update(path.encode() + b"\0" + self.sources[path] + b"\0")
        return digest.hexdigest()[:12]

    def flow_for(self, dialled: str | None) -> Flow | None:
        """The flow for a dialled number (DNID or extension), else the default flow."""
        name = self.numbers.get(dialled or "") or self.default_flow
        return self.flows.get(name) if name else None
