"""A finding in a YAML document and its words: `Problem`, the error carrying them, did-you-mean, a value's name.

Every message says where (`Place`), what is wrong and what would fix it; `str(problem)` is
`file:line:column: severity: message`, the shape compilers use so editors and CI can jump to it.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Literal, Sequence

from switchboard.yamldoc.positions import Place

Severity = Literal["error", "warning"]


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


def suggest(word: str, choices: Iterable[object], *, list_choices: bool = False) -> str:
    """` (did you mean 'x'?)` for the closest choice; without one, ` (allowed: a, b)` if list_choices, else ""."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(word, names, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed: {', '.join(names)})" if list_choices and names else ""


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
    shown = str(value) if isinstance(value, date) else repr(dict(value) if isinstance(value, dict) else
                                                            list(value) if isinstance(value, list) else value)
    return f"{shown} ({kind})"
