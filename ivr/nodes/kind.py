"""The shape of a node kind's definition: its field rules (schema and docs), its runner and how a graph draws it.

Each kind module of `switchboard.ivr.nodes` builds one `KindDefinition` from its typed fields (a `NodeSpec`
dataclass of `flow_model`), the field checkers of `flow_loader`, and its runner; `registry.KINDS` lists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Literal, Mapping, TypeVar, Union

from switchboard.ivr.flow_model import NodeSpec, Place

if TYPE_CHECKING:
    from switchboard.ivr.nodes.step import Next, Step

# A field checker: (value as read from YAML, its place, report) -> the normalised value, or None when invalid.
Report = Callable[[Place, str], None]
Checker = Callable[[Any, Place, Report], Any]
# A field naming a node of the same flow, or a flow: the loader only checks it is text (references are checked
# once the whole folder is read).
NODE: Literal["node"] = "node"
FLOW: Literal["flow"] = "flow"
Reference = Literal["node", "flow"]

S = TypeVar("S", bound=NodeSpec)


@dataclass(frozen=True)
class FieldRule:
    """One key a node kind accepts: how it is checked, whether it is required, and its line in the docs table."""

    name: str
    check: Union[Checker, Reference]
    required: bool
    type_doc: str
    range_doc: str = ""
    default_doc: str = ""
    note: str = ""


# After the fields are checked one by one: (the valid values by key, the places of the written keys, the node's
# place, report) for rules across fields (collect's min_digits <= max_digits).
CrossCheck = Callable[[Mapping[str, Any], Mapping[str, Place], Place, Report], None]


def _no_cross_check(fields: Mapping[str, Any], places: Mapping[str, Place], place: Place, report: Report) -> None:
    return None


def _no_label(spec: Any) -> str:
    return ""


@dataclass(frozen=True)
class KindDefinition(Generic[S]):
    """Everything about one node kind that the loader, engine, graph and docs need."""

    name: str
    spec_type: type[S]
    fields: tuple[FieldRule, ...]
    run: Callable[[S, Step], Awaitable[Next]]
    summary: str  # one line: what the node does (docs, `switchboard.ivr.nodes.reference`)
    shape: str = "box"  # the Graphviz shape of `switchboard graph`
    label: Callable[[S], str] = _no_label  # extra graph label text (a route's skills, ...), "" for none
    cross_check: CrossCheck = _no_cross_check
    builder: Callable[[Mapping[str, Any]], S] | None = None  # when the YAML keys are not the dataclass's fields

    @property
    def schema(self) -> dict[str, FieldRule]:
        """The field rules by key, in the order they are declared (and reported when missing)."""
        return {rule.name: rule for rule in self.fields}

    def build(self, fields: Mapping[str, Any]) -> S:
        """The typed fields from the checked values; keys left out take the dataclass defaults."""
        if self.builder is not None:
            return self.builder(fields)
        return self.spec_type(**fields)
