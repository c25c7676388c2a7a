"""A series on a time axis, as the patient page draws it in SVG: sessions as dots, target
windows shaded, the current overdue wait in red. Geometry only: no routes, no store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.config import Settings
from reminders.models import Series, Session, SessionStatus
from reminders.planning.standing import Standing
from reminders.web.pages.shared import day_start, local

TIMELINE_WIDTH = 720
_MARGIN = 20


@dataclass(frozen=True)
class Span:
    x: float
    width: float
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    number: int
    status: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """A series on a time axis: sessions as dots, target windows shaded, overdue in red."""

    width: int
    dots: list[Dot]
    windows: list[Span]
    gaps: list[Span]
    ticks: list[Tick]
    now_x: float


class _Axis:
    """Maps instants onto the chart's x coordinates."""

    def __init__(self, first: datetime, last: datetime) -> None:
        pad = timedelta(days=7)
        self.start, self.span = first - pad, (last - first) + 2 * pad

    def x(self, moment: datetime) -> float:
        inner = TIMELINE_WIDTH - 2 * _MARGIN
        return round(_MARGIN + inner * ((moment - self.start) / self.span), 1)

    def span_of(self, start: datetime, end: datetime, title: str) -> Span:
        return Span(self.x(start), max(self.x(end) - self.x(start), 1.0), title)


def series_timeline(
    settings: Settings, series: Series, standing: Standing, now: datetime
) -> Timeline:
    """The chart reads the standing, as the card's text does: one definition of overdue.

    A target window follows every completed session but the final one; the red bar runs
    from the due date to now while the series is overdue (never once complete or paused).
    """
    zone = settings.clinic.zone
    sessions = sorted(series.sessions, key=lambda s: s.starts_at)
    tolerance = timedelta(days=settings.followups.tolerance_days)
    windows = [
        (s.starts_at + standing.interval - tolerance, s.starts_at + standing.interval + tolerance)
        for s in sessions
        if s.status == SessionStatus.COMPLETED and s is not standing.final
    ]
    due = standing.next_due
    overdue = [(due, now)] if due is not None and standing.is_overdue(now) else []
    moments = [now, *(s.starts_at for s in sessions), *(end for _, end in windows)]
    axis = _Axis(min(moments), max(moments))
    day = "%d %b %Y"
    days = standing.days_overdue(now)
    return Timeline(
        width=TIMELINE_WIDTH,
        dots=[_dot(axis, s, zone) for s in sessions],
        windows=[
            axis.span_of(a, b, f"target window {local(a, zone, day)} to {local(b, zone, day)}")
            for a, b in windows
        ],
        gaps=[
            axis.span_of(
                a, b, f"overdue {days} day{'' if days == 1 else 's'} past {local(a, zone, day)}"
            )
            for a, b in overdue
        ],
        ticks=_ticks(axis, zone),
        now_x=axis.x(now),
    )


def _dot(axis: _Axis, session: Session, zone: ZoneInfo) -> Dot:
    when = local(session.starts_at, zone)
    title = f"session {session.number}: {when}, {session.status.replace('_', ' ')}"
    return Dot(axis.x(session.starts_at), session.number, session.status, title)


def _ticks(axis: _Axis, zone: ZoneInfo) -> list[Tick]:
    """A tick on the first of each month in view."""
    local_start = axis.start.astimezone(zone)
    month = date(local_start.year, local_start.month, 1)
    ticks: list[Tick] = []
    while (start := day_start(month, zone)) < axis.start + axis.span:
        if start >= axis.start:
            label = month.strftime("%b %Y" if month.month == 1 or not ticks else "%b")
            ticks.append(Tick(axis.x(start), label))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return ticks
