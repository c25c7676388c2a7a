"""The clinic's wall clock: shifting times by it, and the quiet window for messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders.config import QuietHours


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC
    end: datetime  # UTC


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def window_at(quiet: QuietHours, zone: ZoneInfo, instant: datetime) -> Window | None:
    """The quiet window that contains `instant`, or None when SMS may go out then."""
    if quiet.start == quiet.end:
        return None
    local = instant.astimezone(zone)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    one_day = timedelta(days=1)
    if quiet.start < quiet.end:
        if quiet.start <= clock < quiet.end:
            return Window(_at(day, quiet.start, zone), _at(day, quiet.end, zone))
        return None
    if clock >= quiet.start:
        return Window(_at(day, quiet.start, zone), _at(day + one_day, quiet.end, zone))
    if clock < quiet.end:
        return Window(_at(day - one_day, quiet.start, zone), _at(day, quiet.end, zone))
    return None


def sms_due(
    quiet: QuietHours, zone: ZoneInfo, due: datetime, deadline: datetime | None
) -> datetime:
    """When an SMS due at `due` should go out so that it lands outside the quiet window.

    After the window when that is still before the deadline (the session start),
    else at the last minute before the window began.
    """
    window = window_at(quiet, zone, due)
    if window is None:
        return due
    if deadline is None or window.end < deadline:
        return window.end
    return window.start - timedelta(minutes=1)


def wall_clock_shift(moment: datetime, offset: timedelta, zone: ZoneInfo) -> datetime:
    """`moment + offset` on the clinic's clock: a day before 10:00 is 10:00, across DST too.

    Where that wall-clock time does not exist (the spring-forward gap), elapsed time is used.
    """
    naive = moment.astimezone(zone).replace(tzinfo=None) + offset
    local = naive.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return moment + offset
    return local.astimezone(UTC)
