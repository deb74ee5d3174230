"""The node-kind registry: every kind is complete (runner, schema, defaults, docs) and the docs tables are its own."""
from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from switchboard.ivr.flow_model import NodeSpec
from switchboard.ivr.nodes.kind import FLOW, NODE, KindDefinition
from switchboard.ivr.nodes.reference import rewrite, table
from switchboard.ivr.nodes.registry import KINDS, TERMINAL_KINDS, WAITING_KINDS

DOCS = Path(__file__).parents[2] / "docs" / "dialplans.md"


@pytest.mark.parametrize("name", list(KINDS))
def test_kind_has_runner_schema_defaults_and_docs(name: str) -> None:
    """A registered kind has a coroutine runner, field rules, a dataclass with every default, and docs text."""
    definition: KindDefinition[NodeSpec] = KINDS[name]
    assert definition.name == name
    assert inspect.iscoroutinefunction(definition.run)
    assert definition.fields, "a kind without fields"
    assert issubclass(definition.spec_type, NodeSpec) and dataclasses.is_dataclass(definition.spec_type)
    definition.spec_type()  # every field has a default: the engine's, or a placeholder for a required field
    assert definition.build({}) == definition.spec_type()
    spec_fields = {f.name for f in dataclasses.fields(definition.spec_type)}
    for rule in definition.fields:
        assert rule.check in (NODE, FLOW) or callable(rule.check), rule.name
        assert rule.name in spec_fields or definition.builder is not None, rule.name
        assert rule.type_doc, rule.name
        assert rule.note.startswith("required") == rule.required, rule.name
    assert definition.summary and definition.shape


def test_every_kind_is_documented_with_the_generated_table() -> None:
    """docs/dialplans.md has a section per kind whose table is the generated one (regenerate with --write)."""
    text = DOCS.read_text(encoding="utf-8")
    for name, definition in KINDS.items():
        assert f"\n### {name}\n" in text, f"docs/dialplans.md has no section for {name}"
        assert table(definition) in text, f"the {name} table differs from the generated one"
    assert rewrite(text, KINDS) == text


def test_numeric_defaults_in_the_docs_are_the_dataclass_defaults() -> None:
    """A number in a table's Default column is the default the engine uses."""
    for definition in KINDS.values():
        defaults = {f.name: f.default for f in dataclasses.fields(definition.spec_type)}
        for rule in definition.fields:
            if rule.default_doc.replace(".", "", 1).isdigit():
                assert defaults[rule.name] == float(rule.default_doc), (definition.name, rule.name)


def test_waiting_and_terminal_kinds() -> None:
    """The kinds that wait for the caller and those that end a flow are the documented ones."""
    assert WAITING_KINDS == {"menu", "collect", "language", "identify", "survey"}
    assert TERMINAL_KINDS == {"hangup", "transfer", "voicemail", "route", "goto"}


def test_rewrite_replaces_a_stale_table() -> None:
    """The generator replaces an edited table under a kind's heading and leaves the prose alone."""
    stale = "### goto\n\nProse.\n\n| Field | Type | |\n|---|---|---|\n| `flow` | old | x |\n\nMore prose.\n"
    assert rewrite(stale, KINDS) == f"### goto\n\nProse.\n\n{table(KINDS['goto'])}\n\nMore prose.\n"


def test_an_hours_node_builds_its_schedule_once_and_stays_a_plain_value() -> None:
    """Every call through an hours node reads the same Schedule; the cache is no field (equality, fields unchanged)."""
    from switchboard.ivr.nodes.hours import HoursNode

    node = HoursNode(timezone="Europe/London", weekly={"mon": [(540, 1020)]}, open="a", closed="b")
    twin = HoursNode(timezone="Europe/London", weekly={"mon": [(540, 1020)]}, open="a", closed="b")
    assert node.schedule() is node.schedule()
    assert node == twin and node.schedule() == twin.schedule()
    assert "_schedule" not in {f.name for f in dataclasses.fields(node)}
