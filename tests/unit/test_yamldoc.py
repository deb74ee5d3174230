"""Unit tests of yamldoc: YAML read with positions, every unreadable document a positioned Problem, the words."""
from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from switchboard.yamldoc import DocumentError, Place, Problem, parse, place_of, show, suggest, written_key

PACKAGE = Path(__file__).resolve().parents[2] / "yamldoc"


def _problems(raw: bytes) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        parse(raw, "f.yaml")
    return [str(p) for p in caught.value.problems]


def test_duplicate_key_is_named_at_its_second_occurrence() -> None:
    """A key given twice in one mapping is an error at the repeat, naming the key, not a silent overwrite."""
    assert _problems(b"a: 1\nb:\n  c: 1\n  c: 2\n") == [
        "f.yaml:4:3: error: duplicate key 'c': YAML keeps only one; remove or rename the other"]


def test_bad_indentation_is_a_positioned_parser_error() -> None:
    """A key indented less than its siblings is reported where the parser stopped, with the parser's words."""
    assert _problems(b"a:\n  b: 1\n c: 2\n") == [
        "f.yaml:3:2: error: not valid YAML: expected <block end>, but found '<block mapping start>'"]


def test_unclosed_bracket_is_a_positioned_scanner_error() -> None:
    """An unclosed flow list is reported at the end of the text, saying what was expected."""
    assert _problems(b"a: [1\n") == ["f.yaml:2:1: error: not valid YAML: expected ',' or ']', but got '<stream end>'"]


def test_tab_indentation_is_named_at_the_tab() -> None:
    """A tab used for indentation is an error at the tab's line and column."""
    assert _problems(b"a:\n\tb: 1\n") == [
        "f.yaml:2:1: error: not valid YAML: found character '\\t' that cannot start any token"]


def test_non_utf8_bytes_are_named_at_the_byte() -> None:
    """A file saved as Latin-1 is an error at the offending byte, saying to save it as UTF-8."""
    assert _problems(b"x: 1\na: caf\xe9\n") == [
        "f.yaml:2:7: error: not valid UTF-8 (byte 0xe9: invalid continuation byte); save the file as UTF-8"]


def test_forbidden_control_character_is_named_by_code_point() -> None:
    """A control character YAML forbids is an error at its character position, naming its code point."""
    assert _problems("a: é\nb: x\x07y\n".encode()) == [
        "f.yaml:2:5: error: character U+0007 is not allowed in YAML text; delete it"]


def test_impossible_date_is_a_positioned_error() -> None:
    """A date that does not exist (30 February) is a YAML error at the value, not a Python traceback."""
    assert _problems(b"d: 2026-02-30\n") == [
        "f.yaml:1:4: error: not valid YAML: 2026-02-30 is not a date (day is out of range for month)"]


def test_document_error_lists_only_errors_but_keeps_warnings() -> None:
    """DocumentError's text counts and lists the errors; `problems` keeps the warnings too."""
    problems = [Problem(Place("f.yaml", 2, 3), "bad"), Problem(Place("f.yaml", 4, 1), "odd", "warning")]
    error = DocumentError(problems, "f.yaml")
    assert str(error) == "1 error(s) in f.yaml:\nf.yaml:2:3: error: bad"
    assert error.problems == problems and isinstance(error, ValueError)


def test_empty_document_is_none_and_a_good_one_keeps_its_values() -> None:
    """An empty file reads as None; a good one as mappings and lists with their values (dates as dates)."""
    assert parse(b"", "f.yaml") is None
    doc = parse(b"a: [1, two]\nd: 2026-03-01\n", "f.yaml")
    assert doc == {"a": [1, "two"], "d": date(2026, 3, 1)}


def test_positions_of_nested_keys_and_items() -> None:
    """place_of gives the 1-based line and column of keys at any depth and of list items."""
    doc = parse(b"top:\n  inner:\n    - x\n    - deep: 1\n", "f.yaml")
    top = Place("f.yaml", 1, 1)
    assert str(place_of(doc, "top", top)) == "f.yaml:1:1"
    assert str(place_of(doc["top"], "inner", top)) == "f.yaml:2:3"
    assert str(place_of(doc["top"]["inner"], 0, top)) == "f.yaml:3:7"
    assert str(place_of(doc["top"]["inner"][1], "deep", top)) == "f.yaml:4:7"


def test_place_of_falls_back_for_missing_keys_and_plain_values() -> None:
    """A key that is not there, an index past the end or a value without positions gives the fallback."""
    doc = parse(b"a:\n  - 1\n", "f.yaml")
    fallback = Place("f.yaml", 9, 9)
    assert place_of(doc, "nope", fallback) == fallback
    assert place_of(doc["a"], 5, fallback) == fallback
    assert place_of({"a": 1}, "a", fallback) == fallback


def test_place_and_problem_text() -> None:
    """A place shows as path:line:column (a place outside a file as its name); a problem adds severity."""
    assert str(Place("f.yaml", 3, 5)) == "f.yaml:3:5"
    assert str(Place("environment SWITCHBOARD_AGI__PORT")) == "environment SWITCHBOARD_AGI__PORT"
    assert str(Problem(Place("f.yaml", 3, 5), "unknown key", "warning")) == "f.yaml:3:5: warning: unknown key"


def test_written_key_quotes_what_the_admin_typed() -> None:
    """written_key returns a key's source text, e.g. 0800 that YAML read as the number 800."""
    raw = b"numbers:\n  0800123: main\n"
    doc = parse(raw, "f.yaml")
    where = place_of(doc["numbers"], 800123, Place("f.yaml", 1, 1))
    assert written_key(raw, where) == "0800123"
    assert written_key(raw, Place("f.yaml", 99, 1)) == ""


@pytest.mark.parametrize("word, choices, list_choices, expected", [
    ("prot", ["host", "port"], False, " (did you mean 'port'?)"),
    ("zzz", ["host", "port"], False, ""),
    ("zzz", ["host", "port"], True, " (allowed: host, port)"),
    ("mnu", {"menu": 1, "play": 2}, False, " (did you mean 'menu'?)"),
])
def test_suggest(word: str, choices: list[str], list_choices: bool, expected: str) -> None:
    """suggest names the closest choice, else nothing or (on request) every choice in the given order."""
    assert suggest(word, choices, list_choices=list_choices) == expected


def test_show_names_values_in_plain_words() -> None:
    """show quotes text and names the kind of other values in plain words, also for ruamel's own types."""
    doc = parse(b"f: 1.5\nl: [1]\nm: {a: 1}\nd: 2026-03-01\n", "f.yaml")
    assert show("x") == "'x'" and show(None) == "nothing" and show(True) == "True (true/false)"
    assert show(7) == "7 (whole number)"
    assert [show(doc[k]) for k in "flmd"] == ["1.5 (number)", "[1] (list)", "{'a': 1} (mapping)",
                                              "2026-03-01 (date)"]


def test_yamldoc_is_a_leaf() -> None:
    """yamldoc imports only itself, ruamel and the standard library, so every package may use it."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("switchboard.") or name.startswith("switchboard.yamldoc"), (path, name)
                assert name.split(".")[0] in ("ruamel", "switchboard", "__future__", "dataclasses", "datetime",
                                              "difflib", "typing"), (path, name)
