"""The `branch` node: chooses the next node from what is known about the call (segment, language, variables, ...)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from switchboard.ivr.nodes.field_checks import check_bool
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.yamldoc.problems import show as _show
from switchboard.yamldoc.problems import suggest as _suggest
from switchboard.ivr.flow_model import NodeSpec, Place, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.step import Next, Step

if TYPE_CHECKING:
    from switchboard.ivr.flow_engine import CallState

CONDITION_KEYS = ("segment", "known", "language", "variable", "customer", "open")


@dataclass(frozen=True)
class Condition:
    """One rule: every key of `when` must hold for the call to go to `goto`.

    `when` values: segment and language a list of names; known and open true/false; variable and customer a
    mapping name → text.
    """

    when: Mapping[str, Any]
    goto: str
    place: Place


@dataclass(frozen=True)
class BranchNode(NodeSpec):
    """The fields of a branch node."""

    conditions: tuple[Condition, ...] = ()
    else_: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("else", self.else_), *(("conditions", rule.goto) for rule in self.conditions))

    def edge_label(self, key: str, target: str) -> str:
        """A condition edge shows its rule(s), e.g. `segment: vip,gold & known: true`."""
        if key != "conditions":
            return key
        return " | ".join(_describe(rule.when) for rule in self.conditions if rule.goto == target) or key


def _describe(when: Mapping[str, Any]) -> str:
    def show(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        if isinstance(value, Mapping):
            return ",".join(f"{k}={v}" for k, v in value.items())
        return str(value)
    return " & ".join(f"{key}: {show(value)}" for key, value in when.items()).replace('"', "'")


def check_conditions(value: Any, place: Place, report: Report) -> Any:
    """A list of {when: {...}, goto: node}; `when` holds the keys of CONDITION_KEYS."""
    if not isinstance(value, list) or not value:
        report(place, "expected a list of {when: {...}, goto: node}")
        return None
    out: list[Condition] = []
    for index, rule in enumerate(value):
        p = _place_of(value, index, place)
        if not isinstance(rule, dict) or set(rule) - {"when", "goto"} or "goto" not in rule or "when" not in rule:
            report(p, "each condition is {when: {segment: vip}, goto: node}")
            continue
        when = rule["when"]
        wp = _place_of(rule, "when", p)
        if not isinstance(when, dict) or not when:
            report(wp, f"`when` needs at least one of {', '.join(CONDITION_KEYS)}")
            continue
        clean: dict[str, Any] = {}
        for key, v in when.items():
            kp = _place_of(when, key, wp)
            if key not in CONDITION_KEYS:
                report(kp, f"unknown condition {_show(key)}{_suggest(str(key), CONDITION_KEYS)}")
            elif key in ("known", "open"):
                if check_bool(v, kp, report) is not None:
                    clean[key] = v
            elif key in ("variable", "customer"):
                if not isinstance(v, dict) or not v:
                    report(kp, f"`{key}` expects {{name: value}}")
                else:
                    clean[key] = {str(k): str(x) for k, x in v.items()}
            else:
                clean[key] = [str(x) for x in v] if isinstance(v, list) else [str(v)]
        if not isinstance(rule["goto"], str):
            report(_place_of(rule, "goto", p), f"`goto` must name a node, got {_show(rule['goto'])}")
            continue
        out.append(Condition(when=clean, goto=rule["goto"], place=p))
    return out


def holds(key: str, expected: Any, state: CallState) -> bool:
    """Whether one key of a condition's `when` holds for the call."""
    if key == "segment":
        return state.segment in expected
    if key == "language":
        return state.language in expected
    if key == "known":
        return state.known == bool(expected)
    if key == "open":
        return bool(state.is_open) == bool(expected)
    source = state.variables if key == "variable" else state.customer
    return all(source.get(k) == v for k, v in expected.items())


async def run(spec: BranchNode, step: Step) -> Next:
    for rule in spec.conditions:
        if all(holds(key, expected, step.state) for key, expected in rule.when.items()):
            return str(rule.goto)
    return spec.else_


def _build(fields: Mapping[str, Any]) -> BranchNode:
    """`else` is a Python keyword: the field is `else_`."""
    return BranchNode(conditions=tuple(fields.get("conditions") or ()), else_=fields.get("else", ""))


DEFINITION = KindDefinition(
    name="branch", spec_type=BranchNode, run=run, shape="diamond", builder=_build,
    summary="Chooses the next node from what is known about the call.",
    fields=(
        FieldRule("conditions", check_conditions, True, "list of `{when: {...}, goto: node}`",
                  note="required, at least one"),
        FieldRule("else", NODE, True, "node", note="required; when no condition holds"),
    ))
