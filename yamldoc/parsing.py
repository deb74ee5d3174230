"""Reading YAML bytes into ruamel's round-trip document, which keeps every key's line and column.

Whatever stops a read becomes one positioned `Problem` in a `DocumentError`: a duplicate key (YAML would silently
keep one), a scanner or parser error (bad indentation, a tab, an unclosed bracket), an impossible date, a number
Python cannot hold (`!!float 'x'`, thousands of digits), a mapping or list used as a key, bytes that are not UTF-8
or a character YAML forbids.

A hostile or runaway edit cannot stall or exhaust the service: `Limits` bounds the file's size and line length
(checked before reading), the nesting depth, the number of aliases and the number of values once aliases are
expanded (checked while ruamel composes, so an alias bomb stops at the limit, never expanded); each breach is a
positioned error saying the limit and what to do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode
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


class DocumentRefused(MarkedYAMLError):
    """A document breaks one of the `Limits`, or holds a value refused here (a mapping or list as a key, a number
    Python cannot hold); `problem` says which and what to do."""


def _number(kind: str) -> Any:
    base = getattr(RoundTripConstructor, f"construct_yaml_{kind}")

    def construct(constructor: RoundTripConstructor, node: ScalarNode) -> Any:
        try:
            return base(constructor, node)
        except (ValueError, OverflowError) as exc:  # `!!float 'x'`, an int of 5,000 digits (Python's str limit)
            shown = node.value if len(node.value) <= 40 else f"{node.value[:20]}... ({len(node.value)} characters)"
            word = "whole number" if kind == "int" else "number"
            raise DocumentRefused(None, None, f"{shown!r} is not a {word} Python can read; write a shorter number "
                                  "or quote it as text", node.start_mark) from exc
    return construct


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Constructor.add_constructor("tag:yaml.org,2002:int", _number("int"))
_Constructor.add_constructor("tag:yaml.org,2002:float", _number("float"))


@dataclass(frozen=True)
class Limits:
    """How big a document may be; each breach is a positioned error (defaults suit hand-edited config files)."""

    max_bytes: int = 128 * 1024  # ~10x the example dialplans; ruamel round-trip reads dense YAML at ~100 KiB/s
    max_line: int = 10_000  # characters on one line (ruamel slows sharply on very long lines and comments)
    max_depth: int = 32  # nested mappings/lists (dialplans need about 10)
    max_aliases: int = 1_000  # `*name` references
    max_values: int = 100_000  # values once aliases are expanded (an alias bomb stops here)


DEFAULT_LIMITS = Limits()


class _Composer(Composer):
    """ruamel's composer, counting depth, aliases and expanded values as it goes, and refusing complex keys."""

    limits = DEFAULT_LIMITS

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._depth = 0
        self._aliases = 0
        self._values = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its values once aliases are expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        limits = self.limits
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > limits.max_aliases:
                raise DocumentRefused(None, None, f"more than {limits.max_aliases} aliases (*name); write the values "
                                 "out or split the file", event.start_mark)
            anchored = self.anchors.get(event.anchor)
            self._count(self._sizes.get(id(anchored), 1), event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > limits.max_depth:
            raise DocumentRefused(None, None, f"nested more than {limits.max_depth} levels deep; flatten this value",
                             event.start_mark)
        before = self._values
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._count(1, event)
        self._sizes[id(node)] = self._values - before
        return node

    def _count(self, values: int, event: Any) -> None:
        self._values += values
        if self._values > self.limits.max_values:
            raise DocumentRefused(None, None, f"more than {self.limits.max_values} values (aliases expanded); "
                             "split the file or use fewer aliases", event.start_mark)

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                shape = "mapping" if isinstance(key, MappingNode) else "list"
                raise DocumentRefused(None, None, f"a {shape} is used as a key; keys are names, numbers or quoted text",
                                 key.start_mark)
        return node


def _limited(limits: Limits) -> type[_Composer]:
    if limits == DEFAULT_LIMITS:
        return _Composer
    return type("_LimitedComposer", (_Composer,), {"limits": limits})


def _oversized(raw: bytes, path: str, limits: Limits) -> Problem | None:
    if len(raw) > limits.max_bytes:
        line = raw.count(b"\n", 0, limits.max_bytes) + 1
        return Problem(Place(path, line, 1), f"the file is {len(raw) // 1024} KiB; the limit is "
                       f"{limits.max_bytes // 1024} KiB: split it into several files")
    for number, line_bytes in enumerate(raw.split(b"\n"), 1):
        if len(line_bytes) > limits.max_line:
            return Problem(Place(path, number, limits.max_line + 1), f"line {number} is {len(line_bytes)} "
                           f"characters long; the limit is {limits.max_line}: break it over several lines")
    return None


def parse(raw: bytes, path: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """The document in `raw` (ruamel CommentedMap/CommentedSeq/scalars, None if empty).

    Raises DocumentError holding one positioned Problem when the bytes are not a readable YAML document or break
    one of the `limits`.
    """
    too_big = _oversized(raw, path, limits)
    if too_big is not None:
        raise DocumentError([too_big], path)
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.Composer = _limited(limits)
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(raw)
    except DocumentRefused as exc:
        mark = exc.problem_mark
        problem = Problem(Place(path, mark.line + 1, mark.column + 1) if mark else Place(path, 1, 1),
                          str(exc.problem))
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
