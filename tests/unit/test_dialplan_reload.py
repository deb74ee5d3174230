"""Unit tests of dialplan reload (validate, then swap or keep the last good) and the graph."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from switchboard.ivr.dialplan_registry import DialplanRegistry, ReloadResult, fingerprint
from switchboard.ivr.flow_graph import render, to_dot
from switchboard.ivr.flow_loader import DialplanError
from switchboard.ivr.flow_model import Dialplan, Prompts
from switchboard.ivr.nodes.hangup import HangupNode

GOOD = """flows:
  main:
    start: menu
    nodes:
      menu:
        type: menu
        prompt: hello-world
        choices: {"1": bye, "2": other}
        on_failure: bye
      other: {type: goto, flow: second}
      bye: {type: hangup}
  second:
    start: end
    nodes:
      end: {type: hangup, prompt: vm-goodbye}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "main.yaml").write_text(GOOD)
    return tmp_path


def _registry(folder: Path, seen: list[ReloadResult]) -> DialplanRegistry:
    return DialplanRegistry(folder, None, logging.getLogger("test"), lambda result, plan: seen.append(result))


async def test_invalid_edit_keeps_the_last_good_version(folder: Path) -> None:
    """A reload of a broken edit is rejected with its problems; the live version does not change."""
    seen: list[ReloadResult] = []
    registry = _registry(folder, seen)
    live = registry.current
    (folder / "main.yaml").write_text(GOOD.replace('"1": bye', '"1": byee'))
    result = await registry.reload("test")
    assert not result.ok and registry.current is live
    assert any("unknown node 'byee'" in str(p) for p in result.problems)
    assert [r.ok for r in seen] == [True, False]


async def test_valid_edit_swaps_and_old_version_stays_usable(folder: Path) -> None:
    """A valid edit becomes current with a new version; a call holding the old object keeps its flows."""
    registry = _registry(folder, [])
    old: Dialplan = registry.current
    before = fingerprint(folder)
    (folder / "main.yaml").write_text(GOOD.replace("prompt: vm-goodbye", "prompt: beep"))
    assert fingerprint(folder) != before
    result = await registry.reload("test")
    assert result.ok and result.changed
    assert registry.current.version != old.version
    end = old.flows["second"].nodes["end"].spec
    assert isinstance(end, HangupNode) and end.prompt == Prompts({"": ("vm-goodbye",)})


def test_start_up_with_errors_raises(folder: Path) -> None:
    """At start-up an invalid folder stops the service with every error."""
    (folder / "main.yaml").write_text(GOOD.replace("start: menu", "start: menuu"))
    with pytest.raises(DialplanError, match="did you mean 'menu'"):
        _registry(folder, [])


def test_graph_draws_nodes_edges_and_subflows(folder: Path, tmp_path: Path) -> None:
    """The DOT names every node with its kind, labels menu edges with their keys and follows goto flows."""
    registry = _registry(folder, [])
    dot = to_dot(registry.current, "main")
    assert '"main.menu" -> "main.other" [label="2"]' in dot
    assert "flow second" in dot and "[hangup]" in dot
    out = tmp_path / "flow.dot"
    render(registry.current, "main", out)
    assert out.read_text() == dot
