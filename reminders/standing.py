"""Where a series stands: derived from its sessions, never stored."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from reminders.config import Settings
from reminders.models import Series, Session, SessionStatus

BOOKED = (SessionStatus.BOOKED, SessionStatus.CONFIRMED)


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

    @property
    def recommended_next(self) -> datetime | None:
        """Last completed session plus the target interval."""
        return self.last_completed.starts_at + self.interval if self.last_completed else None

    def days_overdue(self, now: datetime) -> int:
        """Whole days past the date the next session was due (last visit plus the interval)."""
        if self.gap_since is None:
            return 0
        return max((now - (self.gap_since + self.interval)).days, 0)


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
    upcoming = [s for s in sessions if s.status in BOOKED and s.starts_at > now]
    gaps = [(start, s) for s in sessions if (start := gap_start(s)) is not None and start <= now]
    gap_since, last_visit = max(gaps, key=lambda g: g[0]) if gaps else (None, None)
    final = final_session(series)
    standing = Standing(
        status=SeriesStatus.ACTIVE,
        planned=series.planned_sessions,
        done=len(completed),
        interval=interval,
        next_booked=upcoming[0] if upcoming else None,
        last_completed=completed[-1] if completed else None,
        last_visit=last_visit,
        gap_since=gap_since,
        final=final,
    )
    status = _status(series, standing, now, timedelta(days=followups.tolerance_days))
    return replace(standing, status=status)


def _status(
    series: Series, standing: Standing, now: datetime, tolerance: timedelta
) -> SeriesStatus:
    if series.paused:
        return SeriesStatus.PAUSED
    if standing.final is not None:
        return SeriesStatus.COMPLETE
    gap = standing.gap_since
    if (
        standing.next_booked is None
        and gap is not None
        and now - gap > standing.interval + tolerance
    ):
        return SeriesStatus.DRIFTING
    return SeriesStatus.ACTIVE
