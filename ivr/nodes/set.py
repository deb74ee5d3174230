"""The `set` node: sets call variables (also as channel variables, sent with the call's next ones), then goes on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from switchboard.ivr.nodes.field_checks import check_name, check_text
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.ivr.flow_model import NodeSpec, Place, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.step import Next, Step


@dataclass(frozen=True)
class SetNode(NodeSpec):
    """The fields of a set node."""

    variables: Mapping[str, str] = field(default_factory=dict)
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("next", self.next))


def check_variables(value: Any, place: Place, report: Report) -> Any:
    """Variable names → values (numbers are kept as text)."""
    if not isinstance(value, dict) or not value:
        report(place, "expected a mapping of variable names to values")
        return None
    out = {}
    for key, v in value.items():
        p = _place_of(value, key, place)
        if check_name(key, p, report) is not None and check_text(v, p, report) is not None:
            out[str(key)] = str(v)
    return out


async def run(spec: SetNode, step: Step) -> Next:
    state = step.state
    state.variables.update(spec.variables)
    state.unsent.update(spec.variables)  # sent with the call's next variables (see CallState.unsent): no command now
    return spec.next


DEFINITION = KindDefinition(
    name="set", spec_type=SetNode, run=run, shape="note", summary="Sets call variables, then goes on.",
    fields=(
        FieldRule("variables", check_variables, True, "mapping name → text", note="required; numbers are stored as text"),
        FieldRule("next", NODE, True, "node", note="required"),
    ))
