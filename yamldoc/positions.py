"""Where things are in a YAML file: `Place` (path, 1-based line and column) and the lookups that find one.

ruamel's round-trip loader records 0-based positions on every mapping and sequence (`.lc`); these helpers turn
them into the 1-based `file:line:column` editors show, falling back to a known place when a value has none.
"""
from __future__ import annotations

from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap, CommentedSeq


@dataclass(frozen=True)
class Place:
    """A position in a YAML file (1-based line and column, as editors show them).

    A place outside any file (an environment variable, a default) has line 0: it is shown as its path alone.
    """

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


def place_of(container: object, key: object, fallback: Place) -> Place:
    """The position of `key` in a ruamel mapping (a key) or sequence (an index), else the fallback."""
    try:
        if isinstance(container, CommentedMap):
            line, column = container.lc.key(key)
        elif isinstance(container, CommentedSeq):
            line, column = container.lc.item(key)
        else:
            return fallback
    except (KeyError, IndexError, TypeError):
        return fallback
    return Place(fallback.path, int(line) + 1, int(column) + 1)


def written_key(raw: bytes, place: Place) -> str:
    """The text of a mapping key as written in the source (up to its `:`), or "" if it cannot be found.

    YAML reads `0800123:` as the number 800123; this is how a message can quote what the admin typed.
    """
    lines = raw.decode("utf-8", "replace").splitlines()
    if not 1 <= place.line <= len(lines):
        return ""
    return lines[place.line - 1][place.column - 1:].split(":", 1)[0].strip()
