"""Where a series stands: derived from its sessions, never stored."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from reminders.config import Settings
from reminders.models import UPCOMING, Series, Session, SessionStatus
from reminders.planning.quiet_hours import wall_clock_shift


class SeriesStatus(StrEnum):
    ACTIVE = "active"
    COMPLETE = "complete"
    PAUSED = "paused"
    DRIFTING = "drifting"


@dataclass(frozen=True)
class Standing:
    status: SeriesStatus
    planned: int
    done: int
    interval: timedelta
    next_booked: Session | None
    last_completed: Session | None
    # The last completed, missed or cancelled session, and when the wait for the next began.
    last_visit: Session | None
    gap_since: datetime | None
    final: Session | None  # the session that completed the series

    recommended_next: datetime | None  # last completed session plus the interval
    next_due: datetime | None  # last visit plus the interval

    def days_overdue(self, now: datetime) -> int:
        """Whole days past the date the next session was due."""
        return max((now - self.next_due).days, 0) if self.next_due else 0


def gap_start(session: Session) -> datetime | None:
    """When a visit left the series waiting for the next one.

    A cancellation counts from when it was seen (the import or tick that saw it),
    but never later than the cancelled session's own start.
    """
    if session.status in (SessionStatus.COMPLETED, SessionStatus.NO_SHOW):
        return session.starts_at
    if session.status == SessionStatus.CANCELLED:
        seen = session.status_changed_at or session.starts_at
        return min(seen, session.starts_at)
    return None


def final_session(series: Series) -> Session | None:
    """The one numbered N once completed, or else the Nth completed session."""
    completed = [s for s in series.sessions if s.status == SessionStatus.COMPLETED]
    for session in completed:
        if session.number >= series.planned_sessions:
            return session
    if len(completed) >= series.planned_sessions:
        return sorted(completed, key=lambda s: s.starts_at)[series.planned_sessions - 1]
    return None


def assess(settings: Settings, series: Series, now: datetime) -> Standing:
    followups = settings.followups
    interval = followups.interval_for(series.treatment, series.target_interval_days)
    sessions = sorted(series.sessions, key=lambda s: s.starts_at)
    completed = [s for s in sessions if s.status == SessionStatus.COMPLETED]
    upcoming = [s for s in sessions if s.status in UPCOMING and s.starts_at > now]
    gaps = [(start, s) for s in sessions if (start := gap_start(s)) is not None and start <= now]
    gap_since, last_visit = max(gaps, key=lambda g: g[0]) if gaps else (None, None)
    final = final_session(series)
    zone = settings.clinic.zone
    last_completed = completed[-1] if completed else None
    standing = Standing(
        status=SeriesStatus.ACTIVE,
        planned=series.planned_sessions,
        done=len(completed),
        interval=interval,
        next_booked=upcoming[0] if upcoming else None,
        last_completed=last_completed,
        last_visit=last_visit,
        gap_since=gap_since,
        final=final,
        recommended_next=_later(
            last_completed.starts_at if last_completed else None, interval, zone
        ),
        next_due=_later(gap_since, interval, zone),
    )
    tolerance = timedelta(days=followups.tolerance_days)
    return replace(standing, status=_status(series, standing, now, zone, tolerance))


def _later(moment: datetime | None, offset: timedelta, zone: ZoneInfo) -> datetime | None:
    return wall_clock_shift(moment, offset, zone) if moment else None


def _status(
    series: Series, standing: Standing, now: datetime, zone: ZoneInfo, tolerance: timedelta
) -> SeriesStatus:
    if series.paused:
        return SeriesStatus.PAUSED
    if standing.final is not None:
        return SeriesStatus.COMPLETE
    due = standing.next_due
    if standing.next_booked is None and due and now > wall_clock_shift(due, tolerance, zone):
        return SeriesStatus.DRIFTING
    return SeriesStatus.ACTIVE
