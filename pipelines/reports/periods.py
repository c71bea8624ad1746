"""The days a report covers, and the periods it is compared with (METRICS: growth is against
the previous period of the same length; "last year" is the same weekdays 52 weeks earlier)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Kind = Literal["week", "day"]
KINDS: tuple[Kind, ...] = ("week", "day")
YEAR = timedelta(weeks=52)  # 364 days: the same weekdays a year earlier


@dataclass(frozen=True)
class Period:
    kind: Kind
    start: date
    end: date  # inclusive; before the full period's end when the report is "to date"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def full_end(self) -> date:
        return self.start + timedelta(days=6 if self.kind == "week" else 0)

    @property
    def is_partial(self) -> bool:
        return self.end < self.full_end

    @property
    def key(self) -> str:
        """The partition key: the period's first day."""
        return self.start.isoformat()

    def shifted(self, by: timedelta) -> Period:
        return Period(self.kind, self.start - by, self.end - by)

    def previous(self) -> Period:
        """The period just before, of the same length (a partial week against the same weekdays)."""
        return self.shifted(timedelta(days=7 if self.kind == "week" else 1))

    def last_year(self) -> Period:
        return self.shifted(YEAR)


def period_of(kind: Kind, day: date, *, until: date | None = None) -> Period:
    """The week (Monday to Sunday) or day containing ``day``, cut at ``until`` when that is earlier."""
    if kind not in KINDS:
        raise ValueError(f"period must be one of {', '.join(KINDS)}, not {kind!r}")
    start = day - timedelta(days=day.weekday()) if kind == "week" else day
    period = Period(kind, start, start + timedelta(days=6 if kind == "week" else 0))
    if until is not None and until < period.end:
        if until < start:
            raise ValueError(f"{until} is before the {kind} starting {start}")
        period = Period(kind, start, until)
    return period


def last_complete(kind: Kind, today: date) -> Period:
    """The latest period that ended before ``today`` (what a schedule reports on)."""
    return period_of(kind, today - timedelta(days=1 if kind == "day" else today.weekday() + 1))
