"""Reading YAML bytes into ruamel's round-trip document, which keeps every key's line and column.

Whatever stops a read becomes one positioned `Problem` in a `DocumentError`: a duplicate key (YAML would silently
keep one), a scanner or parser error (bad indentation, a tab, an unclosed bracket), an impossible date, bytes that
are not UTF-8 or a character YAML forbids.
"""
from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError

from switchboard.yamldoc.positions import Place
from switchboard.yamldoc.problems import DocumentError, Problem


class _Constructor(RoundTripConstructor):
    """ruamel's round-trip constructor, except that an impossible date is a YAML error with its place."""


def _timestamp(constructor: RoundTripConstructor, node: ScalarNode) -> Any:
    try:
        return RoundTripConstructor.construct_yaml_timestamp(constructor, node)
    except ValueError as exc:  # 2026-13-01, 2026-02-30: ruamel lets datetime's ValueError escape
        raise ConstructorError(None, None, f"{node.value} is not a date ({exc})", node.start_mark) from exc


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def parse(raw: bytes, path: str) -> Any:
    """The document in `raw` (ruamel CommentedMap/CommentedSeq/scalars, None if empty).

    Raises DocumentError holding one positioned Problem when the bytes are not a readable YAML document.
    """
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(raw)
    except DuplicateKeyError as exc:
        problem = _duplicate(exc, path)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Place(path, mark.line + 1, mark.column + 1) if mark else Place(path, 1, 1)
        problem = Problem(where, f"not valid YAML: {exc.problem or exc.context}")
    except ReaderError as exc:  # bytes that are not UTF-8 (a file saved as Latin-1, ...) or control characters
        problem = _unreadable(exc, raw, path)
    raise DocumentError([problem], path)


def _duplicate(exc: DuplicateKeyError, path: str) -> Problem:
    mark = exc.problem_mark
    key = (exc.problem or "").split('"')[1] if '"' in (exc.problem or "") else "a key"
    return Problem(Place(path, mark.line + 1, mark.column + 1) if mark else Place(path, 1, 1),
                   f"duplicate key {key!r}: YAML keeps only one; remove or rename the other")


def _unreadable(exc: ReaderError, raw: bytes, path: str) -> Problem:
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    if exc.encoding == "unicode":  # a forbidden character: its position counts characters
        text = raw.decode("utf-8", "replace").lstrip("\ufeff")
        position = min(max(int(exc.position), 0), len(text))
        line, start = text.count("\n", 0, position) + 1, text.rfind("\n", 0, position) + 1
        message = f"character U+{code:04X} is not allowed in YAML text; delete it"
    else:  # a decoding error: its position counts bytes
        position = min(max(int(exc.position), 0), len(raw))
        line, start = raw.count(b"\n", 0, position) + 1, raw.rfind(b"\n", 0, position) + 1
        message = f"not valid UTF-8 (byte 0x{code:02x}: {exc.reason}); save the file as UTF-8"
    return Problem(Place(path, line, position - start + 1), message)
