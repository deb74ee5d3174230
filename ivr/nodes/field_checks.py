"""The generic field checkers every node kind builds its schema from: (value, place, report) → the normalised value,
or None when invalid (the problem is reported with its place, what is wrong and what would fix it)."""
from __future__ import annotations

import re
import zoneinfo
from datetime import date
from typing import Any

from switchboard.ivr.flow_model import Place, Prompts
from switchboard.ivr.nodes.kind import Checker, Report
from switchboard.yamldoc.positions import place_of
from switchboard.yamldoc.problems import show

DIGITS = set("0123456789*#")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_PROMPT = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")


# The node kinds of `switchboard.ivr.nodes` build their schemas from these (and add their own for their own shapes).


def check_text(value: Any, place: Place, report: Report) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
        report(place, f"expected a non-empty single-line text, got {show(value)}")
        return None
    return value


def check_name(value: Any, place: Place, report: Report) -> Any:
    if not isinstance(value, str) or not _NAME.match(value):
        report(place, f"expected a name (letters, digits, _ or -, starting with a letter or _), got {show(value)}")
        return None
    return value


def check_choice(*allowed: str) -> Checker:
    def check(value: Any, place: Place, report: Report) -> Any:
        if value not in allowed:
            report(place, f"expected one of {', '.join(allowed)}, got {show(value)}")
            return None
        return value
    return check


def check_bool(value: Any, place: Place, report: Report) -> Any:
    if not isinstance(value, bool):
        report(place, f"expected true or false, got {show(value)}")
        return None
    return value


def check_number(low: float, high: float, integer: bool = False) -> Checker:
    def check(value: Any, place: Place, report: Report) -> Any:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            report(place, f"expected {'a whole number' if integer else 'a number'} from {low:g} to {high:g}, "
                          f"got {show(value)}")
            return None
        if not low <= value <= high:
            report(place, f"{value} is out of range: use a value from {low:g} to {high:g}")
            return None
        return value
    return check


def check_prompts(value: Any, place: Place, report: Report) -> Any:
    """A prompt, a list of prompts, or a mapping language → prompt(s)."""
    def one_list(v: Any, p: Place) -> list[str] | None:
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items:
            report(p, f"expected a prompt name or a list of prompt names, got {show(v)}")
            return None
        for item in items:
            if not isinstance(item, str) or not _PROMPT.match(item):
                report(p, f"{show(item)} is not a prompt name (a sound file without extension, e.g. "
                          "hello-world or custom/welcome)")
                return None
        return list(items)
    if isinstance(value, dict):
        if not value:
            report(place, "expected a prompt name, a list of them, or languages with prompts, e.g. {en: [welcome]}")
            return None
        out = {}
        for lang, v in value.items():
            lst = one_list(v, place_of(value, lang, place))
            if lst is not None:
                out[str(lang)] = lst
        return Prompts({lang: tuple(names) for lang, names in out.items()}) if out else None
    lst = one_list(value, place)
    return Prompts({"": tuple(lst)}) if lst is not None else None


def check_digit(value: Any, place: Place, report: Report) -> Any:
    text = str(value)
    if isinstance(value, bool) or len(text) != 1 or text not in DIGITS:
        report(place, f"expected one DTMF key (0-9, * or #), got {show(value)}")
        return None
    return text


def check_pattern(value: Any, place: Place, report: Report) -> Any:
    if not isinstance(value, str):
        report(place, f"expected a regular expression as text, got {show(value)}")
        return None
    try:
        re.compile(value)
    except re.error as exc:
        report(place, f"invalid regular expression: {exc}")
        return None
    return value


def check_timezone(value: Any, place: Place, report: Report) -> Any:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        report(place, f"unknown time zone {show(value)}: use an IANA name such as Europe/London")
        return None
    return str(value)


def check_dates(value: Any, place: Place, report: Report) -> Any:
    if not isinstance(value, list):
        report(place, "expected a list of dates (YYYY-MM-DD)")
        return None
    out = []
    for item in value:
        if isinstance(item, date):
            out.append(item)
            continue
        try:
            out.append(date.fromisoformat(str(item)))
        except ValueError:
            report(place, f"{show(item)} is not a date YYYY-MM-DD")
    return out


TIMEOUT = check_number(0.5, 60)
RETRIES = check_number(0, 10, integer=True)
