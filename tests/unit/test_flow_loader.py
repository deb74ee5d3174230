"""Validator tests on fixture folders: every good folder loads cleanly, every bad one gives exactly its messages.

A case is a folder under fixtures/dialplans/{good,bad}/ holding the YAML files of a dialplans folder; a case with a
`sounds/` sub-folder is also checked against it (as `switchboard validate --sounds` does). Expected problems are
compared whole, in their string form `file:line:column: severity: message`; DIR stands for the case folder and
SOUNDS for its sounds folder.
"""
from __future__ import annotations

import os

from pathlib import Path
from typing import Iterator

import pytest

from switchboard.ivr.flow_loader import DialplanError, Problem, load_dialplan
from switchboard.ivr.flow_model import Dialplan, Prompts
from switchboard.ivr.nodes.hours import HoursNode
from switchboard.ivr.nodes.language import LanguageNode
from switchboard.ivr.nodes.menu import MenuNode
from switchboard.ivr.nodes.play import PlayNode
from switchboard.ivr.nodes.registry import KINDS
from switchboard.ivr.nodes.set import SetNode
from switchboard.cli import main as cli

FIXTURES = Path(__file__).parent / "fixtures" / "dialplans"
REPO_DIALPLANS = Path(__file__).parents[2] / "dialplans"
KINDS_LIST = ", ".join(KINDS)

BAD: dict[str, list[str]] = {
    "wrong_type": [
        "DIR/main.yaml:10:9: error: expected a number from 0.5 to 60, got 'soon'",
        "DIR/main.yaml:12:45: error: expected true or false, got 'no'",
    ],
    "out_of_range": [
        "DIR/main.yaml:10:9: error: 11 is out of range: use a value from 0 to 10",
        "DIR/main.yaml:11:9: error: 0.1 is out of range: use a value from 0.5 to 60",
        "DIR/main.yaml:13:47: error: expected a whole number from 1 to 600, got 2.5 (number)",
    ],
    "unknown_key": [
        "DIR/main.yaml:6:32: error: play node 'start_here': unknown key 'promt' (did you mean 'prompt'?)",
        "DIR/main.yaml:6:7: error: play node 'start_here' needs `prompt`",
    ],
    "duplicate_key": [
        "DIR/main.yaml:8:7: error: duplicate key 'bye': YAML keeps only one; remove or rename the other",
    ],
    "duplicate_menu_key": [
        "DIR/main.yaml:11:11: error: menu key '1' is used twice: give each key one destination",
        "DIR/main.yaml:14:7: warning: node 'support' is never reached from 'start_here'; link it or delete it",
    ],
    "menu_key_prefix": [
        "DIR/main.yaml:9:19: error: menu key '1' is a prefix of '12': the caller could never reach '12' reliably; "
        "make keys the same length",
    ],
    "menu_key_not_dtmf": [
        "DIR/main.yaml:9:19: error: menu key '1a' is not made of DTMF keys (0-9, * or #)",
    ],
    "unknown_target_node": [
        "DIR/main.yaml:6:53: error: node 'start_here': `next` goes to unknown node 'byee' (did you mean 'bye'?)",
        "DIR/main.yaml:7:7: warning: node 'bye' is never reached from 'start_here'; link it or delete it",
    ],
    "unknown_start_node": [
        "DIR/main.yaml:4:5: error: flow 'main' starts at unknown node 'welcom' (did you mean 'welcome'?)",
    ],
    "unknown_goto_flow": [
        "DIR/main.yaml:6:32: error: node 'start_here' goes to unknown flow 'suport' (did you mean 'support'?)",
    ],
    "unreachable_node": [
        "DIR/main.yaml:7:7: warning: node 'forgotten' is never reached from 'start_here'; link it or delete it",
    ],
    "spin_cycle": [
        "DIR/main.yaml:6:7: error: these nodes loop without ever waiting for the caller: "
        "main.start_here -> main.again -> main.start_here; put a menu or collect node in the loop",
    ],
    "spin_cycle_across_flows": [
        "DIR/main.yaml:6:7: error: these nodes loop without ever waiting for the caller: "
        "main.hello -> main.away -> other.back -> main.hello; put a menu or collect node in the loop",
    ],
    "unknown_skill": [
        "DIR/main.yaml:6:33: error: node 'start_here' asks for skill 'biling', which routing.yaml does not define "
        "(did you mean 'billing'?); add it to `skills:` there",
    ],
    "route_announce": [
        "DIR/main.yaml:7:31: error: position: expected true or false, got 'yes'",
        "DIR/main.yaml:7:46: error: every: expected seconds, 0 (once) or 10–3600, got 5 (whole number)",
        "DIR/main.yaml:7:56: error: only: expected one of always, changed, improved, got 'sometimes'",
        "DIR/main.yaml:7:73: error: unknown announce option 'when'; use position, estimate, first_after, every, only",
        "DIR/main.yaml:8:66: error: announce says nothing: set position: true and/or estimate: true",
    ],
    "missing_prompt": [
        "DIR/main.yaml:6:32: error: prompt 'helo-world' is not in SOUNDS; record it or fix the name "
        "(did you mean 'hello-world'?)",
        "DIR/main.yaml:7:27: error: prompt 'au-revoir' is not in SOUNDS; record it or fix the name",
    ],
    "unknown_node_type": [
        f"DIR/main.yaml:6:20: error: node 'start_here': unknown type 'mnu' (did you mean 'menu'?); "
        f"use one of {KINDS_LIST}",
        f"DIR/main.yaml:7:7: error: node 'other' needs a `type`: one of {KINDS_LIST}",
    ],
    "numbers_missing_flow": [
        "DIR/numbers.yaml:2:3: error: number 2000 goes to unknown flow 'mian' (did you mean 'main'?)",
        "DIR/numbers.yaml:4:1: error: default flow 'nowhere' does not exist",
    ],
    "unquoted_number": [
        'DIR/numbers.yaml:3:3: error: number 08001234567 is read as 8001234567 without quotes; '
        'write it quoted: "08001234567": main',
        'DIR/numbers.yaml:4:3: error: number +442079460000 is read as 442079460000 without quotes; '
        'write it quoted: "+442079460000": main',
    ],
    "invalid_yaml": [
        "DIR/main.yaml:7:10: error: not valid YAML: expected ',' or '}', but got ':'",
    ],
    "tab_indentation": [
        "DIR/main.yaml:3:1: error: not valid YAML: found character '\\t' that cannot start any token",
    ],
    "not_utf8": [
        "DIR/main.yaml:1:25: error: not valid UTF-8 (byte 0xe7: invalid continuation byte); save the file as UTF-8",
    ],
    "impossible_date": [
        "DIR/main.yaml:10:32: error: not valid YAML: 2026-02-30 is not a date (day is out of range for month)",
    ],
    "identify_missing_field": [
        "DIR/main.yaml:9:9: error: 0 is out of range: use a value from 1 to 10",
        "DIR/main.yaml:10:9: error: 3 is out of range: use a value from 4 to 32",
        "DIR/main.yaml:6:7: error: identify node 'start_here' needs `secret_prompt`",
    ],
    "collect_digits": [
        "DIR/main.yaml:10:9: error: min_digits 20 is larger than max_digits 16 (the default)",
        "DIR/main.yaml:16:9: error: expected a name (letters, digits, _ or -, starting with a letter or _), "
        "got '2pin'",
        "DIR/main.yaml:19:9: error: expected one DTMF key (0-9, * or #), got '##'",
        "DIR/main.yaml:20:9: error: invalid regular expression: unterminated character set at position 0",
        "DIR/main.yaml:18:9: error: min_digits 6 is larger than max_digits 4",
    ],
    "hours_fields": [
        "DIR/main.yaml:8:9: error: unknown time zone 'Europe/Londn': use an IANA name such as Europe/London",
        "DIR/main.yaml:10:11: error: '9:00-17:00' is not a span \"HH:MM-HH:MM\" (24-hour clock)",
        "DIR/main.yaml:11:11: error: span 17:00-09:00 ends before it starts",
        "DIR/main.yaml:12:11: error: unknown day 'thurs' (did you mean 'thu'?); use mon, tue, wed, thu, fri, sat, sun",
        "DIR/main.yaml:13:33: error: '2026-13-01' is not a date YYYY-MM-DD",
        "DIR/main.yaml:13:56: error: unknown key 'region'",
        "DIR/main.yaml:13:9: error: the holidays package has no calendar for country 'XX'; "
        "use an ISO 3166 code such as GB, US or FR",
        "DIR/main.yaml:14:9: error: expected a list of dates (YYYY-MM-DD)",
    ],
    "branch_conditions": [
        "DIR/main.yaml:9:20: error: unknown condition 'segmnt' (did you mean 'segment'?)",
        "DIR/main.yaml:11:20: error: expected true or false, got 'yes'",
        "DIR/main.yaml:13:13: error: each condition is {when: {segment: vip}, goto: node}",
        "DIR/main.yaml:8:9: error: node 'start_here': `conditions` goes to unknown node 'nowhere'",
    ],
    "language_choices": [
        "DIR/main.yaml:9:19: error: 'english' is not a language code such as en or fr_CA",
        "DIR/main.yaml:9:33: error: expected one DTMF key (0-9, * or #), got '12'",
    ],
    "prompt_values": [
        "DIR/main.yaml:6:32: error: 'hello world.gsm' is not a prompt name (a sound file without extension, "
        "e.g. hello-world or custom/welcome)",
        "DIR/main.yaml:7:28: error: expected a prompt name, a list of them, or languages with prompts, "
        "e.g. {en: [welcome]}",
        "DIR/main.yaml:8:26: error: expected a prompt name or a list of prompt names, got [] (list)",
    ],
    "names_and_intents": [
        "DIR/main.yaml:6:43: error: expected a name (letters, digits, _ or -, starting with a letter or _), "
        "got 'my var'",
        "DIR/main.yaml:6:67: error: expected a name (letters, digits, _ or -, starting with a letter or _), "
        "got 'buy now'",
    ],
    "flow_defined_twice": [
        "DIR/more.yaml:3:3: error: flow 'main' is defined twice (also at DIR/main.yaml:3:5)",
    ],
    "flow_shape": [
        "DIR/main.yaml:4:5: error: unknown flow key 'node' (did you mean 'nodes'?)",
        "DIR/main.yaml:2:3: error: a flow needs `nodes:` with at least one node",
        "DIR/main.yaml:6:3: error: expected a name (letters, digits, _ or -, starting with a letter or _), "
        "got '2nd'",
        "DIR/main.yaml:11:5: error: a flow needs `nodes:` with at least one node",
        "DIR/main.yaml:12:3: error: a flow needs `start:` naming its first node",
    ],
    "top_level_keys": [
        "DIR/main.yaml:1:1: error: unknown top-level key 'flow' (did you mean 'flows'?); this file may hold: flows",
        "DIR/main.yaml:1:1: error: expected `flows:` mapping flow names to {start, nodes}",
        "DIR/numbers.yaml:2:1: error: unknown top-level key 'defualt' (did you mean 'default'?); "
        "this file may hold: numbers, default",
        "DIR/routing.yaml:2:1: error: unknown top-level key 'agent' (did you mean 'agents'?); this file may hold: "
        "skills, segments, relaxation, wrap_up, ring_no_answer, last_agent_days, agents, pause_reasons",
        "DIR/routing.yaml:1:19: error: expected a name (letters, digits, _ or -, starting with a letter or _), "
        "got 'support desk'",
        "DIR/numbers.yaml:1:11: error: number 2000 goes to unknown flow 'main'",
    ],
    "no_yaml_files": [
        "DIR:1:1: error: no *.yaml files here: add a flow file such as main.yaml",
    ],
}


def _cases(kind: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / kind).iterdir() if p.is_dir())


def _load(folder: Path) -> tuple[Dialplan | None, list[Problem]]:
    """Loads a case folder (with its sounds/ when it has one): the plan (None on errors) and every problem."""
    sounds = folder / "sounds"
    try:
        plan, warnings = load_dialplan(folder, sounds if sounds.is_dir() else None)
    except DialplanError as exc:
        return None, exc.problems
    return plan, warnings


def _expand(lines: list[str], folder: Path) -> list[str]:
    return [line.replace("SOUNDS", str(folder / "sounds")).replace("DIR", str(folder)) for line in lines]


def test_every_bad_folder_has_expectations() -> None:
    """Each bad fixture folder is listed in BAD and each BAD entry has a folder, so none is silently skipped."""
    assert set(_cases("bad")) == set(BAD)


@pytest.mark.parametrize("case", _cases("good"))
def test_good_folder_loads_without_problems(case: str) -> None:
    """A good folder loads with no error and no warning."""
    plan, problems = _load(FIXTURES / "good" / case)
    assert [str(p) for p in problems] == []
    assert plan is not None and plan.flows


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_folder_reports_exactly_its_problems(case: str) -> None:
    """A bad folder gives exactly the expected messages, each at its file:line:column, errors refusing the load."""
    folder = FIXTURES / "bad" / case
    plan, problems = _load(folder)
    expected = _expand(BAD[case], folder)
    assert sorted(str(p) for p in problems) == sorted(expected)
    has_errors = any(": error: " in line for line in expected)
    assert (plan is None) == has_errors


def test_unreachable_node_is_only_a_warning() -> None:
    """An unreachable node does not stop the load: the plan is returned together with the warning."""
    plan, warnings = load_dialplan(FIXTURES / "bad" / "unreachable_node")
    assert [w.severity for w in warnings] == ["warning"]
    assert "forgotten" in plan.flows["main"].nodes


def test_error_text_lists_errors_only() -> None:
    """DialplanError's text counts and lists the errors; warnings stay in `problems` only."""
    with pytest.raises(DialplanError) as caught:
        load_dialplan(FIXTURES / "bad" / "unknown_target_node")
    text = str(caught.value)
    assert text.startswith("1 error(s) in dialplans:\n")
    assert "byee" in text and "never reached" not in text
    assert [p.severity for p in caught.value.problems] == ["error", "warning"]


def test_every_kind_fixture_covers_every_node_kind() -> None:
    """The every_kind fixture really uses each node kind of the schema (so the good test covers them all)."""
    plan, _ = load_dialplan(FIXTURES / "good" / "every_kind")
    used = {node.kind for flow in plan.flows.values() for node in flow.nodes.values()}
    assert used == set(KINDS)


def test_loaded_values_are_normalised() -> None:
    """Menu keys become text, prompts a per-language mapping, opening hours minutes, numbers text."""
    plan, _ = load_dialplan(FIXTURES / "good" / "every_kind")
    nodes = plan.flows["main"].nodes
    top, welcome, lang = nodes["top"].spec, nodes["welcome"].spec, nodes["lang"].spec
    office, topic = nodes["office"].spec, nodes["topic"].spec
    assert isinstance(top, MenuNode) and isinstance(welcome, PlayNode) and isinstance(lang, LanguageNode)
    assert isinstance(office, HoursNode) and isinstance(topic, SetNode)
    assert list(top.choices) == ["1", "2", "3", "*", "#", "0"]
    assert welcome.prompt == Prompts({"": ("hello-world", "beep")})
    assert lang.prompt == Prompts({"en": ("vm-press", "digits/1"), "fr": ("vm-press",)})
    assert office.weekly["tue"] == [(480, 720), (780, 1080)]
    assert office.weekly["sat"] == []
    assert topic.variables == {"topic": "billing", "code": "42"}
    assert plan.numbers == {"2000": "main", "2001": "other"}
    assert plan.default_flow == "main"
    assert plan.skills == frozenset({"billing", "support", "sales", "general"})


def test_a_single_file_can_be_validated() -> None:
    """`validate` accepts one flow file as well as a folder."""
    plan, warnings = load_dialplan(FIXTURES / "good" / "minimal" / "main.yaml")
    assert warnings == [] and list(plan.flows) == ["main"]


def test_version_changes_with_the_content() -> None:
    """The version (switchboard_dialplan_info) is a hash of the files: same content, same version."""
    first, _ = load_dialplan(FIXTURES / "good" / "minimal")
    again, _ = load_dialplan(FIXTURES / "good" / "minimal")
    other, _ = load_dialplan(FIXTURES / "good" / "loop_through_a_menu")
    assert first.version == again.version != other.version
    assert len(first.version) == 12


def test_repo_dialplans_validate_cleanly() -> None:
    """The example dialplans/ of the repository loads with no error and no warning, and every number has a flow."""
    plan, warnings = load_dialplan(REPO_DIALPLANS)
    assert [str(w) for w in warnings] == []
    assert plan.skills == frozenset({"billing", "support", "sales", "general"})
    assert plan.default_flow in plan.flows
    assert all(flow in plan.flows for flow in plan.numbers.values())
    assert {n.kind for f in plan.flows.values() for n in f.nodes.values()} == set(KINDS)


SANDBOX_ROOT = Path(os.environ.get("SANDBOX_DIR", REPO_DIALPLANS.parent / ".sandbox" / "asterisk-root"))


def _asterisk_sounds() -> Path | None:
    for candidate in (Path("/usr/share/asterisk/sounds/en"), Path("/var/lib/asterisk/sounds/en"),
                      SANDBOX_ROOT / "usr/share/asterisk/sounds/en_US_f_Allison"):
        if candidate.is_dir() and any(candidate.glob("hello-world.*")):
            return candidate
    return None


def test_repo_dialplans_only_use_core_sounds() -> None:
    """Every prompt of the example flows exists in Asterisk's core English sounds (when installed here)."""
    sounds = _asterisk_sounds()
    if sounds is None:
        if os.environ.get("CI"):
            pytest.fail("CI provisions the Asterisk sandbox first; its core sounds should be here")
        pytest.skip("no Asterisk core sounds installed on this machine")
    _, warnings = load_dialplan(REPO_DIALPLANS, sounds)
    assert warnings == []


def test_cli_validate_good_folder(capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard validate` exits 0 on a good folder and prints a one-line summary."""
    folder = FIXTURES / "good" / "every_kind"
    assert cli(["validate", str(folder)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"{folder}: OK: 2 flow(s), ") and out.err == ""


def test_cli_validate_bad_folder(capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard validate` exits 1 on errors and prints every problem (warnings too) and a count."""
    folder = FIXTURES / "bad" / "unknown_target_node"
    assert cli(["validate", str(folder)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == _expand(BAD["unknown_target_node"], folder) + [f"{folder}: 1 error(s), 1 warning(s)"]


def test_cli_validate_checks_sounds(capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard validate --sounds DIR` reports prompts missing from that folder."""
    folder = FIXTURES / "bad" / "missing_prompt"
    assert cli(["validate", str(folder), "--sounds", str(folder / "sounds")]) == 1
    assert "prompt 'helo-world' is not in" in capsys.readouterr().err
    assert cli(["validate", str(folder)]) == 0


def test_cli_validates_the_repo_dialplans(capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard validate dialplans` (flows, numbers and routing.yaml together) passes on the repository's folder."""
    assert cli(["validate", str(REPO_DIALPLANS)]) == 0
    out = capsys.readouterr()
    assert ": OK: 2 flow(s), " in out.out and out.err == ""


def test_a_single_flow_file_uses_the_routing_yaml_beside_it(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate dialplans/main.yaml` knows the skills of the routing.yaml beside it (issue 14, defect 1)."""
    plan, warnings = load_dialplan(REPO_DIALPLANS / "main.yaml")
    assert warnings == [] and plan.skills == frozenset({"billing", "support", "sales", "general"})
    assert cli(["validate", str(REPO_DIALPLANS / "main.yaml")]) == 0
    assert "does not define" not in capsys.readouterr().err


def test_cli_validate_missing_sounds_folder_is_one_error(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    """A missing --sounds folder is one error, not one per prompt (issue 14, defect 12)."""
    assert cli(["validate", str(REPO_DIALPLANS), "--sounds", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "sounds folder" in err and "is not a folder" in err
    assert "is not in" not in err and ": 1 error(s)" in err


@pytest.mark.parametrize("unreadable", ["sounds", "sounds/fr"], ids=["the-folder", "a-language-folder"])
def test_cli_validate_unreadable_sounds_folder_is_one_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, unreadable: str) -> None:
    """issue 14, defect 12: an unreadable --sounds folder (or one of its language folders) is one error, not one per
    prompt."""
    sounds = tmp_path / "sounds"
    (sounds / "fr").mkdir(parents=True)
    (sounds / "en").mkdir()
    (sounds / "fr" / "hello-world.gsm").touch()
    denied = sounds.parent / unreadable
    denied.chmod(0)  # enough for an ordinary user; root reads it anyway, so the listing is refused as well
    real_scandir = os.scandir

    def scandir(path: "os.PathLike[str] | str") -> "Iterator[os.DirEntry[str]]":
        if Path(path) == denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", scandir)
    try:
        assert cli(["validate", str(REPO_DIALPLANS), "--sounds", str(sounds)]) == 1
    finally:
        denied.chmod(0o755)
    err = capsys.readouterr().err
    assert f"sounds folder {denied} cannot be read (Permission denied); prompts were not checked" in err
    assert "is not in" not in err and ": 1 error(s)" in err


def test_cli_validate_sounds_path_that_is_a_file_is_one_error(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    """issue 14, defect 12: a --sounds path that is a file, not a folder, is one error, not one per prompt."""
    sounds = tmp_path / "sounds.tar"
    sounds.write_bytes(b"")
    assert cli(["validate", str(REPO_DIALPLANS), "--sounds", str(sounds)]) == 1
    err = capsys.readouterr().err
    assert f"sounds folder {sounds} is not a folder" in err
    assert "is not in" not in err and ": 1 error(s)" in err


def test_a_menu_choice_to_an_unknown_node_is_reported_at_the_choice(tmp_path: Path) -> None:
    """A menu choice naming an unknown node is reported at that choice, not the `choices:` key (issue 14, #15)."""
    (tmp_path / "main.yaml").write_text(
        "flows:\n  main:\n    start: m\n    nodes:\n      m:\n        type: menu\n        prompt: demo-instruct\n"
        "        choices:\n          \"1\": bye\n          \"2\": nowhere\n        on_failure: bye\n"
        "      bye: {type: hangup}\n")
    with pytest.raises(DialplanError) as err:
        load_dialplan(tmp_path)
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / 'main.yaml'}:10:11: error: node 'm': `choices` goes to unknown node 'nowhere'"]


def test_a_routing_typo_does_not_hide_its_other_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`validate` with a top-level typo in routing.yaml still reports the file's other errors (issue 14, #15)."""
    (tmp_path / "main.yaml").write_text("flows:\n  main:\n    start: bye\n    nodes:\n      bye: {type: hangup}\n")
    (tmp_path / "routing.yaml").write_text("skils: [billing]\nagents: [5]\n")
    assert cli(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "routing.yaml:1:1: error: unknown top-level key 'skils'" in err
    assert "routing.yaml:2:1: error: `agents` expects" in err
