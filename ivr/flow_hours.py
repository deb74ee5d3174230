"""Opening hours of an `hours` node: a weekly schedule in a time zone, holiday calendars and closures.

Holidays come from the `holidays` package (a country, optionally a subdivision) plus dates the admin lists;
closures are exceptional days when the centre is shut (they count as closed, not holiday). Times are evaluated in
the schedule's own time zone, whatever the server's.
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Mapping

import holidays as holidays_lib

from switchboard.ivr.nodes.field_checks import DAYS


@lru_cache(maxsize=64)
def _calendar(country: str, subdivision: str | None) -> holidays_lib.HolidayBase:
    return holidays_lib.country_holidays(country, subdiv=subdivision)


@dataclass(frozen=True)
class Schedule:
    """The validated fields of an hours node."""

    timezone: str
    weekly: Mapping[str, list[tuple[int, int]]]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_dates: tuple[date, ...] = ()
    closures: tuple[date, ...] = ()

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Schedule:
        spec = fields.get("holidays") or {}
        return cls(timezone=fields["timezone"], weekly=fields["weekly"],
                   holiday_country=spec.get("country"), holiday_subdivision=spec.get("subdivision"),
                   holiday_dates=tuple(spec.get("dates") or ()), closures=tuple(fields.get("closures") or ()))

    def status(self, moment: datetime) -> str:
        """`open`, `closed` or `holiday` at an aware moment."""
        local = moment.astimezone(zoneinfo.ZoneInfo(self.timezone))
        today = local.date()
        if today in self.closures:
            return "closed"
        if today in self.holiday_dates or (
                self.holiday_country and today in _calendar(self.holiday_country, self.holiday_subdivision)):
            return "holiday"
        minute = local.hour * 60 + local.minute
        spans = self.weekly.get(DAYS[local.weekday()], [])
        return "open" if any(start <= minute < end for start, end in spans) else "closed"
