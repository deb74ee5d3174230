"""The validator on hostile or huge edits (issue 12 item 5): each case is a positioned error or a clean load, fast.

One test per case found by mutating the example dialplans: a 1,100-node chain, a prompt nested 500 deep, a
mapping used as a key, numbers Python cannot hold, an alias bomb, thousands of unknown node names, a menu of
20,000 choices, a 1 MiB comment; and a reload whose validator fails still answers (registry and HTTP).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Iterator

import pytest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from switchboard.http_auth import BearerToken
from switchboard.http_dialplans import ReloadResource
from switchboard.ivr import dialplan_registry
from switchboard.ivr.dialplan_registry import DialplanRegistry, ReloadResult
from switchboard.ivr.flow_loader import MAX_NODES, DialplanError, load_dialplan
from switchboard.ivr.flow_model import Dialplan
from switchboard.ivr.nodes.menu import MAX_CHOICES
from switchboard.yamldoc.parsing import DEFAULT_LIMITS
from switchboard.yamldoc.problems import show

HEAD = "flows:\n  main:\n    start: a\n    nodes:\n"
END = "      b: {type: hangup}\n"


def _errors(folder: Path, main: str | bytes) -> list[str]:
    """The error lines of loading a folder holding `main` as main.yaml (none if it loads). How long a hostile load
    takes is measured by bench/flow_bench.py, not asserted here (machines are noisy); the limits that bound it are."""
    path = folder / "main.yaml"
    path.write_bytes(main.encode() if isinstance(main, str) else main)
    try:
        load_dialplan(folder)
        errors: list[str] = []
    except DialplanError as exc:
        errors = [str(p).replace(str(folder), "DIR") for p in exc.problems if p.severity == "error"]
    return errors


def _chain(count: int) -> Iterator[str]:
    for i in range(count):
        yield f"      n{i}: {{type: play, prompt: hello-world, next: n{i + 1}}}\n"
    yield f"      n{count}: {{type: hangup}}\n"


def test_a_chain_of_1100_play_nodes_loads(tmp_path: Path) -> None:
    """A long chain is walked without recursion (it used to hit the recursion limit)."""
    assert _errors(tmp_path, "flows:\n  main:\n    start: n0\n    nodes:\n" + "".join(_chain(1100))) == []


def test_a_spin_cycle_of_1100_nodes_is_found(tmp_path: Path) -> None:
    """A cycle of 1,100 `set` nodes that never waits is reported, not a RecursionError."""
    nodes = "".join(f"      n{i}: {{type: set, variables: {{x: y}}, next: n{(i + 1) % 1100}}}\n" for i in range(1100))
    errors = _errors(tmp_path, "flows:\n  main:\n    start: n0\n    nodes:\n" + nodes)
    assert len(errors) == 1 and "loop without ever waiting" in errors[0]


def test_a_prompt_nested_500_deep_is_a_depth_error(tmp_path: Path) -> None:
    """Deep nesting stops at the depth limit with its place (it used to hit the recursion limit)."""
    prompt = "[" * 500 + "x" + "]" * 500
    errors = _errors(tmp_path, HEAD + f"      a: {{type: play, prompt: {prompt}, next: b}}\n" + END)
    assert errors == [f"DIR/main.yaml:5:{26 + DEFAULT_LIMITS.max_depth}: error: nested more than "
                      f"{DEFAULT_LIMITS.max_depth} levels deep; flatten this value"]


def test_a_mapping_used_as_a_key_is_positioned(tmp_path: Path) -> None:
    """`? {x: [1]}` as a key is an error at the key (it used to be a TypeError: unhashable)."""
    errors = _errors(tmp_path, HEAD + "      a: {type: play, prompt: hi, next: b}\n      ? {x: [1]}\n"
                                      "      : {type: hangup}\n" + END)
    assert errors == ["DIR/main.yaml:6:9: error: a mapping is used as a key; keys are names, numbers or quoted text"]


def test_a_list_used_as_a_prompt_language_is_positioned(tmp_path: Path) -> None:
    """A list as a key is refused while reading, wherever it is."""
    errors = _errors(tmp_path, HEAD + "      a: {type: play, prompt: {[en]: hi}, next: b}\n" + END)
    assert errors == ["DIR/main.yaml:5:32: error: a list is used as a key; keys are names, numbers or quoted text"]


def test_a_5000_digit_number_is_positioned(tmp_path: Path) -> None:
    """A number beyond Python's int-from-text limit is an error at the value (it used to be a ValueError)."""
    errors = _errors(tmp_path, HEAD + "      a: {type: menu, prompt: hi, choices: {'1': b}, on_failure: b, "
                                      f"timeout: {'9' * 5000}}}\n" + END)
    assert errors == ["DIR/main.yaml:5:78: error: '99999999999999999999... (5000 characters)' is not a whole number "
                      "Python can read; write a shorter number or quote it as text"]


def test_a_tagged_float_that_is_not_a_number_is_positioned(tmp_path: Path) -> None:
    """`!!float 'x'` is an error at the value (it used to be a ValueError)."""
    errors = _errors(tmp_path, HEAD + "      a: {type: menu, prompt: hi, choices: {'1': b}, on_failure: b, "
                                      "timeout: !!float 'x'}\n" + END)
    assert errors == ["DIR/main.yaml:5:78: error: 'x' is not a number Python can read; write a shorter number or "
                      "quote it as text"]


def test_an_alias_bomb_stops_at_the_expansion_limit(tmp_path: Path) -> None:
    """10^9 values through nested aliases are refused while reading, in well under a second, small in memory."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    errors = _errors(tmp_path, "\n".join(lines) + "\nflows: *a8\n")
    assert len(errors) == 1
    assert f"more than {DEFAULT_LIMITS.max_values} values (aliases expanded)" in errors[0]


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    """Each alias costs a little; more than the limit is an error at the first one over it."""
    items = ", ".join(["*p"] * (DEFAULT_LIMITS.max_aliases + 1))
    errors = _errors(tmp_path, f"x: &p hi\ny: [{items}]\n")
    assert len(errors) == 1 and f"more than {DEFAULT_LIMITS.max_aliases} aliases" in errors[0]


def test_a_huge_value_in_a_message_is_cut() -> None:
    """A message names a huge or deeply nested value briefly, never the whole structure."""
    huge = [list(range(100_000))] * 1000
    text = show(huge)
    assert len(text) < 120 and text.endswith("(list)")


def test_a_thousand_unknown_node_names_stay_fast(tmp_path: Path) -> None:
    """A thousand nodes, each going to an unknown node: bounded suggestions, findings capped at 500."""
    nodes = "".join(f"      u{i}: {{type: play, prompt: hi, next: zz{i}q}}\n" for i in range(1000))
    errors = _errors(tmp_path, HEAD + "      a: {type: play, prompt: hi, next: b}\n" + END + nodes)
    assert errors[0] == "DIR/main.yaml:7:36: error: node 'u0': `next` goes to unknown node 'zz0q'"
    assert errors[-1] == f"DIR: error: {2 * 1000 - 500} more problem(s) not listed; fix the ones above and " \
                         "validate again"


def test_more_nodes_than_the_limit_are_refused(tmp_path: Path) -> None:
    """A flow with more nodes than the limit is one error at `nodes:` (8,000 unknown names used to take 22 s)."""
    nodes = "".join(f"      u{i}: {{type: hangup}}\n" for i in range(MAX_NODES))
    errors = _errors(tmp_path, HEAD + "      a: {type: hangup}\n" + nodes)
    assert errors == [f"DIR/main.yaml:4:5: error: flow 'main' has {MAX_NODES + 1} nodes; the limit is {MAX_NODES}: "
                      "split it into several flows joined by goto nodes"]


def test_8000_unknown_node_names_are_refused_by_size(tmp_path: Path) -> None:
    """8,000 nodes going to unknown nodes (22 s of suggestions before) are over the file size limit at once."""
    nodes = "".join(f"      u{i}: {{type: play, prompt: hi, next: zz{i}q}}\n" for i in range(8000))
    errors = _errors(tmp_path, HEAD + "      a: {type: hangup}\n" + nodes)
    assert len(errors) == 1 and "KiB; the limit is 128 KiB: split it into several files" in errors[0]


def _menu(keys: list[str]) -> str:
    choices = "".join(f"          '{k}': b\n" for k in keys)
    return HEAD + "      a:\n        type: menu\n        prompt: hi\n        on_failure: b\n        choices:\n" \
        + choices + END


def test_a_menu_at_the_choice_limit_is_checked_fast(tmp_path: Path) -> None:
    """1,000 three-key choices load (the prefix check used to compare every pair)."""
    assert _errors(tmp_path, _menu([f"{i:03d}" for i in range(MAX_CHOICES)])) == []


def test_a_menu_of_20000_choices_is_refused(tmp_path: Path) -> None:
    """More choices than the limit: one error at `choices` (20,000 used to take 23 s)."""
    errors = _errors(tmp_path, _menu([f"{i:05d}" for i in range(20_000)]))
    assert len(errors) == 1 and "the file is 410 KiB; the limit is 128 KiB" in errors[0]
    errors = _errors(tmp_path, _menu([f"{i:04d}" for i in range(MAX_CHOICES + 1)]))
    assert errors == [f"DIR/main.yaml:9:9: error: the menu has {MAX_CHOICES + 1} choices; the limit is "
                      f"{MAX_CHOICES}: split it into menus that lead to each other"]


def test_a_1mib_comment_is_refused_by_size(tmp_path: Path) -> None:
    """A file over the size limit is refused before reading (a 1 MiB comment used to take 8.5 s)."""
    errors = _errors(tmp_path, "#" + "x" * (1 << 20) + "\n" + HEAD + END)
    assert errors == ["DIR/main.yaml:1:1: error: the file is 1024 KiB; the limit is 128 KiB: split it into several "
                      "files"]


def test_a_very_long_line_is_refused(tmp_path: Path) -> None:
    """One line over the line limit is refused before reading, at that line."""
    errors = _errors(tmp_path, HEAD + "      a: {type: hangup}  # " + "x" * DEFAULT_LIMITS.max_line + "\n")
    assert errors == [f"DIR/main.yaml:5:{DEFAULT_LIMITS.max_line + 1}: error: line 5 is "
                      f"{DEFAULT_LIMITS.max_line + 27} characters long; the limit is {DEFAULT_LIMITS.max_line}: "
                      "break it over several lines"]


GOOD = HEAD + "      a: {type: hangup}\n"


def _broken_validator(folder: Path, sounds_dir: Path | None = None) -> tuple[Dialplan, list[object]]:
    raise RecursionError("maximum recursion depth exceeded")


async def test_a_reload_whose_validator_fails_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any exception while validating becomes a rejected reload with a message; the live version stays."""
    (tmp_path / "main.yaml").write_text(GOOD)
    seen: list[ReloadResult] = []
    registry = DialplanRegistry(tmp_path, None, logging.getLogger("test"), lambda result, plan: seen.append(result))
    live = registry.current
    monkeypatch.setattr(dialplan_registry, "load_dialplan", _broken_validator)
    result = await registry.reload("test")
    assert not result.ok and registry.current is live and [r.ok for r in seen] == [True, False]
    assert "the validator failed (RecursionError" in str(result.problems[0])


async def test_the_http_reload_answers_even_when_reload_raises() -> None:
    """POST /dialplans/reload answers 500 with a message if reload itself raises (it used to hang)."""
    async def reload(reason: str) -> ReloadResult:
        raise RuntimeError("boom")

    request = DummyRequest([b"dialplans", b"reload"])
    request.method = b"POST"
    request.requestHeaders.addRawHeader(b"authorization", b"Bearer s3cret")
    assert ReloadResource(reload, BearerToken("s3cret")).render_POST(request) is NOT_DONE_YET
    await asyncio.wait_for(request.notifyFinish().asFuture(asyncio.get_running_loop()), 2)
    assert request.responseCode == 500
    assert b"".join(request.written) == b'{"ok": false, "problems": ["reload failed: RuntimeError"]}\n'
