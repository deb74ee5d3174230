"""A finding in a YAML document and its words: `Problem`, the error carrying them, did-you-mean, a value's name.

Every message says where (`Place`), what is wrong and what would fix it; `str(problem)` is
`file:line:column: severity: message`, the shape compilers use so editors and CI can jump to it.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Literal, Sequence, TypeVar

from switchboard.yamldoc.positions import Place

Severity = Literal["error", "warning"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Problem:
    """One finding, with its place, what is wrong and what would fix it."""

    place: Place
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.place}: {self.severity}: {self.message}"


class DocumentError(ValueError):
    """A document (or a folder of them) has errors; `problems` lists every finding (errors and warnings)."""

    def __init__(self, problems: Sequence[Problem], subject: str) -> None:
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in {subject}:\n" + "\n".join(str(p) for p in errors))
        self.problems = list(problems)
        self.subject = subject


SUGGEST_CANDIDATES = 100  # difflib compares each pair in Python: thousands of names x thousands of typos stall
SHOWN_CHARS = 80  # a value in a message is cut to this many characters
SHOWN_ITEMS = 5  # items of a list or mapping shown before "..."
SHOWN_DEPTH = 2  # nested lists/mappings shown before "..."


def suggest(word: str, choices: Iterable[object], *, list_choices: bool = False) -> str:
    """` (did you mean 'x'?)` for the closest choice; without one, ` (allowed: a, b)` if list_choices, else "".

    Bounded: only names of about the same length are compared, at most SUGGEST_CANDIDATES of them (those sharing
    the first character first, from the first few hundred such names), and a long "allowed" list is cut.
    """
    word = word[:SHOWN_CHARS]
    spread = max(2, len(word) // 3)
    same_start: list[str] = []  # about the same length and the same first character: the likeliest typos
    others: list[str] = []
    listed: list[str] = []
    for choice in choices:
        name = str(choice)
        if len(listed) <= SUGGEST_CANDIDATES:
            listed.append(name)
        if abs(len(name) - len(word)) <= spread:
            (same_start if name[:1] == word[:1] else others).append(name)
            if len(same_start) >= SUGGEST_CANDIDATES or len(others) >= 2 * SUGGEST_CANDIDATES:
                break
    close = difflib.get_close_matches(word, (same_start + others)[:SUGGEST_CANDIDATES], n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if not (list_choices and listed):
        return ""
    more = ", ..." if len(listed) > SUGGEST_CANDIDATES else ""
    return f" (allowed: {', '.join(listed[:SUGGEST_CANDIDATES])}{more})"


_KINDS_SHOWN: tuple[tuple[type, str], ...] = (
    (bool, "true/false"), (int, "whole number"), (float, "number"), (date, "date"), (list, "list"),
    (dict, "mapping"))


def show(value: object) -> str:
    """How a wrong value is named in a message: text quoted, nothing as "nothing", else the value and its kind."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "nothing"
    # plain words, not ruamel's class names (ScalarFloat, CommentedSeq, ...)
    kind = next((word for cls, word in _KINDS_SHOWN if isinstance(value, cls)), type(value).__name__)
    return f"{_brief(value, SHOWN_DEPTH)} ({kind})"


def _brief(value: object, depth: int) -> str:
    """A short text for a value: at most SHOWN_ITEMS items per list or mapping, SHOWN_DEPTH levels, SHOWN_CHARS
    characters (never the whole of a huge or alias-expanded structure)."""
    if isinstance(value, dict) or isinstance(value, (list, tuple)):
        if depth <= 0:
            return "{...}" if isinstance(value, dict) else "[...]"
        if isinstance(value, dict):
            parts = [f"{_brief(k, 0)}: {_brief(v, depth - 1)}" for k, v in _first(value.items())]
            opening, closing = "{", "}"
        else:
            parts = [_brief(v, depth - 1) for v in _first(value)]
            opening, closing = "[", "]"
        if len(value) > SHOWN_ITEMS:
            parts.append(f"... {len(value)} in all")
        text = opening + ", ".join(parts) + closing
    elif isinstance(value, date):
        text = str(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** SHOWN_CHARS:
        text = f"a number of {len(str(abs(value)))} digits" if value.bit_length() < 12000 else "a huge number"
    else:
        text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def _first(items: Iterable[_T]) -> list[_T]:
    out: list[_T] = []
    for item in items:
        if len(out) == SHOWN_ITEMS:
            break
        out.append(item)
    return out
