"""The `goto` node: continues in another flow, at its `start` node (there is no return)."""
from __future__ import annotations

from dataclasses import dataclass

from switchboard.ivr.flow_model import NodeSpec
from switchboard.ivr.nodes.kind import FLOW, FieldRule, KindDefinition
from switchboard.ivr.nodes.step import EnterFlow, Next, Step


@dataclass(frozen=True)
class GotoNode(NodeSpec):
    """The fields of a goto node."""

    ENDS = True

    flow: str = ""

    def entered_flow(self) -> str | None:
        return self.flow or None  # a goto without `flow` is reported as such, not as an unknown flow


async def run(spec: GotoNode, step: Step) -> Next:
    return EnterFlow(spec.flow)


def _label(spec: GotoNode) -> str:
    return f"\\n→ {spec.flow}"


DEFINITION = KindDefinition(
    name="goto", spec_type=GotoNode, run=run, shape="cds", label=_label,
    summary="Continues in another flow, at its `start` node.",
    fields=(
        FieldRule("flow", FLOW, True, "flow name", note="required; a flow of any file"),
    ))
