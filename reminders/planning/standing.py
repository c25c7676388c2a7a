"""Where a series stands: derived from its sessions, never stored.

One definition of overdue, read by the planner, the patient page (text and chart), the call
list, the CLI and the API: the next session is due one target interval after the last
*completed* one. A missed or cancelled session never moves that date; a complete or paused
series, or one with its next session booked, is never overdue.

A series goes on the call list (status DRIFTING) when it is overdue by more than the
tolerance, or from the day after a no-show when nothing has been booked since.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
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


class CallReason(StrEnum):
    """Why a series is on the call list."""

    OVERDUE = "overdue"  # past the due date by more than the tolerance
    NO_SHOW = "no_show"  # missed a session and booked nothing since


@dataclass(frozen=True)
class Standing:
    status: SeriesStatus
    planned: int
    done: int
    interval: timedelta
    next_booked: Session | None
    last_completed: Session | None
    # The last completed, missed or cancelled session, and when the wait for the next began:
    # the nudges to book count from there.
    last_visit: Session | None
    gap_since: datetime | None
    final: Session | None  # the session that completed the series

    recommended_next: datetime | None  # last completed session plus the interval
    next_due: datetime | None  # the same, while the series still has a session to come
    # Not paused, not complete, and nothing booked ahead: the patient has no next step.
    awaiting_booking: bool = False
    missed: Session | None = None  # a no-show after the last completed session
    # Why and from when the series is on the call list; None while it has no reason to be.
    call_reason: CallReason | None = None
    on_call_list_from: datetime | None = None

    def days_overdue(self, now: datetime) -> int:
        """Whole days past the due date, while the patient has nothing booked."""
        if not self.awaiting_booking or self.next_due is None:
            return 0
        return max((now - self.next_due).days, 0)

    def is_overdue(self, now: datetime) -> bool:
        return self.awaiting_booking and self.next_due is not None and now > self.next_due


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
    recommended = _later(last_completed.starts_at if last_completed else None, interval, zone)
    missed = [
        s
        for s in sessions
        if s.status == SessionStatus.NO_SHOW
        and s.starts_at <= now
        and (last_completed is None or s.starts_at > last_completed.starts_at)
    ]
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
        recommended_next=recommended,
        next_due=None if final else recommended,
        awaiting_booking=not series.paused
        and final is None
        and not upcoming
        and not _unrecorded_today(sessions, now, zone),
        missed=missed[-1] if missed else None,
    )
    tolerance = timedelta(days=followups.tolerance_days)
    reason, since = _call(standing, zone, tolerance)
    standing = replace(standing, call_reason=reason, on_call_list_from=since)
    return replace(standing, status=_status(series, standing, now))


def _unrecorded_today(sessions: list[Session], now: datetime, zone: ZoneInfo) -> bool:
    """A session booked for earlier today whose outcome the desk has not recorded yet.

    The day's outcomes come in with the evening's schedule: until then the patient is
    most likely in the chair, not overdue.
    """
    today = now.astimezone(zone).date()
    return any(
        s.status in UPCOMING and s.starts_at <= now and s.starts_at.astimezone(zone).date() == today
        for s in sessions
    )


def _later(moment: datetime | None, offset: timedelta, zone: ZoneInfo) -> datetime | None:
    return wall_clock_shift(moment, offset, zone) if moment else None


def _call(
    standing: Standing, zone: ZoneInfo, tolerance: timedelta
) -> tuple[CallReason | None, datetime | None]:
    """Why the series would be on the call list, and from when, were nothing booked by then."""
    if not standing.awaiting_booking:
        return None, None
    if standing.missed is not None:
        # A missed session is the moment to call: waiting for the tolerance loses weeks.
        day_after = standing.missed.starts_at.astimezone(zone).date() + timedelta(days=1)
        return CallReason.NO_SHOW, datetime.combine(day_after, time(0), zone).astimezone(UTC)
    if standing.next_due is not None:
        return CallReason.OVERDUE, wall_clock_shift(standing.next_due, tolerance, zone)
    return None, None


def _status(series: Series, standing: Standing, now: datetime) -> SeriesStatus:
    if series.paused:
        return SeriesStatus.PAUSED
    if standing.final is not None:
        return SeriesStatus.COMPLETE
    since = standing.on_call_list_from
    if since is not None and now > since:
        return SeriesStatus.DRIFTING
    return SeriesStatus.ACTIVE
