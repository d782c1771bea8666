"""``--since/--until`` (parsed by ``timeparse``): decide which folders and files can hold such events.

Folder dates and file-name stamps are *delivery* times, not event times: AWS writes
an event into a file some minutes after it happened (flow logs aggregate for up to
10 minutes and deliver "typically within 10 minutes"; ALB writes every 5 minutes),
and sometimes much later. So an event at time T sits in a file stamped between
about T and T + delivery lag. We keep every object stamped in
``[since - EARLY_MARGIN, until + late_margin]``: the early margin covers clock and
interval-boundary effects, the late margin covers late delivery. Objects are ingested
whole (exactly once, per object), so an object outside the window that still holds a
few in-window events is only missed if it arrived later than the late margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..errors import UsageError
from ..timeparse import parse_time

__all__ = ["DEFAULT_LATE_MARGIN", "EARLY_MARGIN", "TimeWindow", "parse_time"]

EARLY_MARGIN = timedelta(hours=1)
DEFAULT_LATE_MARGIN = timedelta(hours=2)


@dataclass(frozen=True)
class TimeWindow:
    """Event-time window; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None
    late_margin: timedelta = DEFAULT_LATE_MARGIN

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"--since {self.since.isoformat()} is after --until {self.until.isoformat()}")

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def first_delivery(self) -> datetime | None:
        return self.since - EARLY_MARGIN if self.since else None

    @property
    def last_delivery(self) -> datetime | None:
        return self.until + self.late_margin if self.until else None

    def keeps_delivery(self, t: datetime) -> bool:
        """Can a file delivered (stamped) at ``t`` hold events in the window?"""
        lo, hi = self.first_delivery, self.last_delivery
        return (lo is None or t >= lo) and (hi is None or t <= hi)

    def keeps_hour(self, hour_start: datetime) -> bool:
        """Can the hour folder starting at ``hour_start`` hold such files?"""
        return self.keeps_span(hour_start, hour_start + timedelta(hours=1))

    def keeps_day(self, day: date) -> bool:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return self.keeps_span(start, start + timedelta(days=1))

    def keeps_span(self, start: datetime, end: datetime) -> bool:
        lo, hi = self.first_delivery, self.last_delivery
        return (lo is None or end > lo) and (hi is None or start <= hi)
