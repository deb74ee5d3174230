"""The `hours` node: sends the call one way when open, another when closed or on a holiday (see `flow_hours`)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import holidays as holidays_lib

from switchboard.ivr.flow_hours import Schedule
from switchboard.ivr.nodes.field_checks import DAYS, check_dates, check_timezone
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.yamldoc.problems import show as _show
from switchboard.yamldoc.problems import suggest as _suggest
from switchboard.ivr.flow_model import NodeSpec, Place, node_targets
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.step import Next, Step

_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class Holidays:
    """The `holidays` field: a country (and subdivision) calendar and extra dates."""

    country: str | None = None
    subdivision: str | None = None
    dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class HoursNode(NodeSpec):
    """The fields of an hours node."""

    timezone: str = "UTC"
    weekly: Mapping[str, list[tuple[int, int]]] = field(default_factory=dict)
    holidays: Holidays | None = None
    closures: tuple[date, ...] = ()
    open: str = ""
    closed: str = ""
    holiday: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("open", self.open), ("closed", self.closed), ("holiday", self.holiday))

    def schedule(self) -> Schedule:
        """The opening hours these fields describe."""
        return self._schedule

    @functools.cached_property
    def _schedule(self) -> Schedule:
        """Built once per node (every call through the node asks; the fields are frozen)."""
        spec = self.holidays or Holidays()
        return Schedule(timezone=self.timezone, weekly=self.weekly, holiday_country=spec.country,
                        holiday_subdivision=spec.subdivision, holiday_dates=spec.dates, closures=self.closures)


def check_weekly(value: Any, place: Place, report: Report) -> Any:
    """Days → opening spans in minutes of the day (closed days have none)."""
    if not isinstance(value, dict):
        report(place, "expected days with opening spans, e.g. {mon: \"09:00-17:00\", sat: closed}")
        return None
    out: dict[str, list[tuple[int, int]]] = {}
    for day, spans in value.items():
        p = _place_of(value, day, place)
        if day not in DAYS:
            report(p, f"unknown day {_show(day)}{_suggest(str(day), DAYS)}; use mon, tue, wed, thu, fri, sat, sun")
            continue
        items = [] if spans == "closed" else ([spans] if isinstance(spans, str) else spans)
        if not isinstance(items, list):
            report(p, f"expected \"HH:MM-HH:MM\", a list of them, or closed; got {_show(spans)}")
            continue
        parsed = []
        for span in items:
            m = _SPAN.match(str(span))
            if not m:
                report(p, f"{_show(span)} is not a span \"HH:MM-HH:MM\" (24-hour clock)")
                continue
            start, end = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
            if end <= start:
                report(p, f"span {span} ends before it starts")
                continue
            parsed.append((start, end))
        out[str(day)] = parsed
    return out


def check_holidays(value: Any, place: Place, report: Report) -> Any:
    """{country, subdivision, dates}: a calendar of the `holidays` package plus listed dates."""
    if not isinstance(value, dict):
        report(place, "expected {country: GB, subdivision: ENG, dates: [2026-12-24]}")
        return None
    allowed = {"country", "subdivision", "dates"}
    out: dict[str, Any] = {"country": None, "subdivision": None, "dates": []}
    for key, v in value.items():
        p = _place_of(value, key, place)
        if key not in allowed:
            report(p, f"unknown key {_show(key)}{_suggest(str(key), allowed)}")
        elif key == "dates":
            out["dates"] = check_dates(v, p, report) or []
        else:
            out[key] = str(v)
    if out["country"]:
        try:
            holidays_lib.country_holidays(out["country"], subdiv=out["subdivision"])
        except NotImplementedError:
            report(place, f"the holidays package has no calendar for country {out['country']!r}"
                          f"{' subdivision ' + repr(out['subdivision']) if out['subdivision'] else ''}; "
                          "use an ISO 3166 code such as GB, US or FR")
    return Holidays(country=out["country"], subdivision=out["subdivision"], dates=tuple(out["dates"]))


async def run(spec: HoursNode, step: Step) -> Next:
    status = spec.schedule().status(step.clock())
    step.state.is_open = status == "open"
    if status == "holiday":
        return spec.holiday or spec.closed
    return spec.open if status == "open" else spec.closed


def _build(fields: Mapping[str, Any]) -> HoursNode:
    """The checked values; closures become a tuple."""
    return HoursNode(**{**fields, "closures": tuple(fields.get("closures") or ())})


DEFINITION = KindDefinition(
    name="hours", spec_type=HoursNode, run=run, shape="diamond", builder=_build,
    summary="Sends the call one way when open, another when closed or on a holiday.",
    fields=(
        FieldRule("timezone", check_timezone, True, "IANA time zone (`Europe/London`)", note="required"),
        FieldRule("weekly", check_weekly, True, "mapping day → spans", note="required"),
        FieldRule("holidays", check_holidays, False, "`{country, subdivision, dates}`", note="optional"),
        FieldRule("closures", check_dates, False, "list of dates", note="optional"),
        FieldRule("open", NODE, True, "node", note="required"),
        FieldRule("closed", NODE, True, "node", note="required"),
        FieldRule("holiday", NODE, False, "node", note="optional; default: holidays take `closed`"),
    ))
