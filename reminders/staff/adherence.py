"""How well the clinic's series keep their rhythm: the adherence figures, overall, by treatment
and by practitioner, for the console page, the CLI and `--json`.

Everything is counted by the database (set-based, a handful of grouped queries per
grouping); Python only turns the small grouped answers into rates and medians. The figures:

- completion: series complete (completed sessions >= planned) out of series started (at
  least one completed session);
- intervals: each wait between two consecutive completed sessions of a series, in days,
  against the series' target; its median, and the share inside the target window (target
  +/- the tolerance);
- drift: each wait after a completed, non-final session, once decided (the next session
  came, or the wait passed target + tolerance), drifted when it ran past target +
  tolerance; counted in the month the wait was due to end;
- no-shows: no-shows out of the sessions that were attended or missed;
- nudges: each wait that got a rebook nudge, followed when a next session of the series
  was first seen by the service within 14 days of the first nudge sent (a session's first
  planned message, else its import, is when it was first seen).

A series seen by several practitioners counts for each of them; an interval, a wait and a
nudge belong to the practitioner of the session the wait began with. Months are the
clinic's (on SQLite, which has no time zones, at the zone's current UTC offset).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import aliased

from reminders import store
from reminders.config import Settings
from reminders.models import WENT_OUT, Message, Series, Session, SessionStatus, UTCDateTime

NUDGE_WINDOW_DAYS = 14
GROUPINGS = ("all", "treatment", "practitioner")


@dataclass(frozen=True)
class MonthDrift:
    month: str  # "2026-03", the clinic's month the waits were due to end
    waits: int
    drifted: int

    @property
    def rate(self) -> float | None:
        return _rate(self.drifted, self.waits)


@dataclass(frozen=True)
class Figures:
    """The adherence figures of one group: the whole clinic, a treatment or a practitioner."""

    grouping: str  # "all", "treatment" or "practitioner"
    name: str
    series_started: int
    series_complete: int
    sessions_completed: int
    no_shows: int
    intervals: int
    median_interval_days: float | None
    median_target_days: float | None
    median_days_off_target: float | None  # interval minus target: positive is late
    in_window: int
    waits: int  # decided waits after a non-final completed session
    drifted: int
    drift_by_month: tuple[MonthDrift, ...]
    nudged: int  # decided waits that got a rebook nudge
    nudge_followed: int

    @property
    def completion_rate(self) -> float | None:
        return _rate(self.series_complete, self.series_started)

    @property
    def no_show_rate(self) -> float | None:
        return _rate(self.no_shows, self.no_shows + self.sessions_completed)

    @property
    def in_window_share(self) -> float | None:
        return _rate(self.in_window, self.intervals)

    @property
    def drift_rate(self) -> float | None:
        return _rate(self.drifted, self.waits)

    @property
    def nudge_follow_rate(self) -> float | None:
        return _rate(self.nudge_followed, self.nudged)

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["drift_by_month"] = [
            {**asdict(month), "rate": month.rate} for month in self.drift_by_month
        ]
        for name in RATES:
            record[name] = getattr(self, name)
        return record


RATES = ("completion_rate", "no_show_rate", "in_window_share", "drift_rate", "nudge_follow_rate")


@dataclass(frozen=True)
class Adherence:
    as_of: datetime
    tolerance_days: int
    overall: Figures
    by_treatment: tuple[Figures, ...]
    by_practitioner: tuple[Figures, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "tolerance_days": self.tolerance_days,
            "nudge_window_days": NUDGE_WINDOW_DAYS,
            "overall": self.overall.as_dict(),
            "by_treatment": [f.as_dict() for f in self.by_treatment],
            "by_practitioner": [f.as_dict() for f in self.by_practitioner],
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def adherence(settings: Settings, now: datetime) -> Adherence:
    with store.transaction(settings.database_url) as db:
        groups = _Queries(db, settings, now).figures()
    empty = _figures("all", "all", _Part(), settings.followups.tolerance_days)
    return Adherence(
        as_of=now,
        tolerance_days=settings.followups.tolerance_days,
        overall=groups["all"][0] if groups["all"] else empty,
        by_treatment=tuple(groups["treatment"]),
        by_practitioner=tuple(groups["practitioner"]),
    )


class _Queries:
    """The grouped queries, written once for SQLite and PostgreSQL."""

    def __init__(self, db: DB, settings: Settings, now: datetime) -> None:
        self.db, self.settings = db, settings
        self.postgres = db.get_bind().dialect.name == "postgresql"
        self.now = literal(now, UTCDateTime())
        self.zone = settings.clinic.zone
        offset = now.astimezone(self.zone).utcoffset()
        self.offset_minutes = int(offset.total_seconds() // 60) if offset else 0
        self.tolerance = settings.followups.tolerance_days

    # Dialect helpers.

    def days(self, start: Any, end: Any) -> ColumnElement[Any]:
        """Days from start to end, as a fraction."""
        if self.postgres:
            return cast(func.extract("epoch", end - start), Float) / 86400.0
        return cast(func.julianday(end) - func.julianday(start), Float)

    def month(self, moment: Any, plus_days: ColumnElement[int]) -> ColumnElement[str]:
        """The clinic's month ("2026-03") of `moment` plus a number of days."""
        if self.postgres:
            wall = func.timezone(self.zone.key, func.timezone("UTC", moment))
            return func.to_char(wall + func.make_interval(0, 0, 0, plus_days), "YYYY-MM")
        shift = f"{self.offset_minutes:+d} minutes"
        return func.strftime("%Y-%m", moment, func.printf("%+d days", plus_days), shift)

    def target(self) -> ColumnElement[int]:
        followups = self.settings.followups
        default: ColumnElement[int] = literal(followups.default_interval_days, Integer)
        if followups.interval_days:
            whens = [(Series.treatment == t, d) for t, d in followups.interval_days.items()]
            default = case(*whens, else_=default)
        return func.coalesce(func.nullif(Series.target_interval_days, 0), default)

    # The figures: each query runs once, grouped by treatment and practitioner together; the
    # clinic's, a treatment's and a practitioner's figures are sums of its rows.

    def figures(self) -> dict[str, list[Figures]]:
        parts: dict[tuple[str, str], _Part] = defaultdict(_Part)
        self._series(parts)
        self._sessions(parts)
        self._waits(parts)
        self._nudges(parts)
        found: dict[str, list[Figures]] = {grouping: [] for grouping in GROUPINGS}
        for (grouping, name), part in sorted(parts.items()):
            found[grouping].append(_figures(grouping, name, part, self.tolerance))
        return found

    def _series(self, parts: dict[tuple[str, str], _Part]) -> None:
        completed = Session.status == SessionStatus.COMPLETED
        done = (
            select(Session.series_id, func.count().label("done"))
            .where(completed)
            .group_by(Session.series_id)
            .subquery()
        )
        full = func.sum(case((done.c.done >= Series.planned_sessions, 1), else_=0))
        by_treatment = (
            select(Series.treatment, func.count(), full)
            .join(done, done.c.series_id == Series.id)
            .group_by(Series.treatment)
        )
        for treatment, n, complete in self.db.execute(by_treatment):
            for key in (("all", "all"), ("treatment", treatment)):
                parts[key].add_series(int(n), int(complete or 0))
        # A series seen by several practitioners counts for each of them.
        pairs = select(Session.series_id, Session.practitioner).where(completed).distinct()
        seen = pairs.subquery()
        by_practitioner = (
            select(seen.c.practitioner, func.count(), full)
            .join(done, done.c.series_id == seen.c.series_id)
            .join(Series, Series.id == seen.c.series_id)
            .group_by(seen.c.practitioner)
        )
        for practitioner, n, complete in self.db.execute(by_practitioner):
            parts[("practitioner", practitioner)].add_series(int(n), int(complete or 0))

    def _sessions(self, parts: dict[tuple[str, str], _Part]) -> None:
        status = Session.status
        query = (
            select(
                Series.treatment,
                Session.practitioner,
                func.sum(case((status == SessionStatus.COMPLETED, 1), else_=0)),
                func.sum(case((status == SessionStatus.NO_SHOW, 1), else_=0)),
            )
            .join(Series, Series.id == Session.series_id)
            .where(status.in_([SessionStatus.COMPLETED, SessionStatus.NO_SHOW]))
            .group_by(Series.treatment, Session.practitioner)
        )
        for treatment, practitioner, done, missed in self.db.execute(query):
            for key in _keys(treatment, practitioner):
                parts[key].add_sessions(int(done or 0), int(missed or 0))

    def _waits(self, parts: dict[tuple[str, str], _Part]) -> None:
        """Intervals and waits in one pass over the completed sessions, in order per series."""
        order = (Session.series_id,)
        done = (
            select(
                Series.treatment.label("treatment"),
                Session.practitioner.label("practitioner"),
                Session.starts_at.label("starts_at"),
                Series.planned_sessions.label("planned"),
                self.target().label("target"),
                func.row_number()
                .over(partition_by=order, order_by=Session.starts_at)
                .label("place"),
                func.lead(Session.starts_at)
                .over(partition_by=order, order_by=Session.starts_at)
                .label("next_start"),
            )
            .join(Series, Series.id == Session.series_id)
            .where(Session.status == SessionStatus.COMPLETED)
            .subquery()
        )
        limit = done.c.target + self.tolerance
        gap = cast(func.round(self.days(done.c.starts_at, done.c.next_start)), Integer)
        passed = self.days(done.c.starts_at, self.now) > limit
        # A wait after a non-final session counts once decided: the next came, or time ran out.
        wait = and_(done.c.place < done.c.planned, or_(done.c.next_start.is_not(None), passed))
        waited = self.days(done.c.starts_at, func.coalesce(done.c.next_start, self.now))
        month = case((wait, self.month(done.c.starts_at, limit)), else_=None)
        query = select(
            done.c.treatment,
            done.c.practitioner,
            gap,
            done.c.target,
            month,
            func.count(),
            func.sum(case((wait, 1), else_=0)),
            func.sum(case((and_(wait, waited > limit), 1), else_=0)),
        ).group_by(done.c.treatment, done.c.practitioner, gap, done.c.target, month)
        for treatment, practitioner, days, target, when, n, waits, drifted in self.db.execute(
            query
        ):
            for key in _keys(treatment, practitioner):
                part = parts[key]
                if days is not None:
                    part.intervals[(int(days), int(target))] += int(n)
                if waits:
                    part.add_waits(str(when), int(waits), int(drifted or 0))

    def _nudges(self, parts: dict[tuple[str, str], _Part]) -> None:
        first = (
            select(Message.session_id, func.min(Message.sent_at).label("sent_at"))
            .where(Message.kind == "rebook_nudge", Message.status.in_(WENT_OUT))
            .where(Message.sent_at.is_not(None))
            .group_by(Message.session_id)
            .subquery()
        )
        later = aliased(Session)
        seen = func.coalesce(
            select(func.min(Message.created_at))
            .where(Message.session_id == later.id)
            .correlate(later)
            .scalar_subquery(),
            later.status_changed_at,
        )
        gap = self.days(first.c.sent_at, seen)
        followed = exists(
            select(later.id).where(
                later.series_id == Session.series_id,
                later.starts_at > Session.starts_at,
                and_(gap >= 0, gap <= NUDGE_WINDOW_DAYS),
            )
        )
        decided = or_(followed, self.days(first.c.sent_at, self.now) >= NUDGE_WINDOW_DAYS)
        query: Select[Any] = (
            select(
                Series.treatment,
                Session.practitioner,
                func.count(),
                func.sum(case((followed, 1), else_=0)),
            )
            .select_from(first)
            .join(Session, Session.id == first.c.session_id)
            .join(Series, Series.id == Session.series_id)
            .where(decided)
            .group_by(Series.treatment, Session.practitioner)
        )
        for treatment, practitioner, n, hits in self.db.execute(query):
            for key in _keys(treatment, practitioner):
                parts[key].add_nudges(int(n), int(hits or 0))


def _keys(treatment: str, practitioner: str) -> tuple[tuple[str, str], ...]:
    return (("all", "all"), ("treatment", treatment), ("practitioner", practitioner))


@dataclass
class _Part:
    """One group's counts as the queries add them up."""

    series: list[int] = field(default_factory=lambda: [0, 0])  # started, complete
    sessions: list[int] = field(default_factory=lambda: [0, 0])  # completed, no-shows
    intervals: Counter[tuple[int, int]] = field(default_factory=Counter)  # (days, target)
    months: dict[str, list[int]] = field(default_factory=dict)  # month: waits, drifted
    nudges: list[int] = field(default_factory=lambda: [0, 0])  # nudged, followed

    def add_series(self, started: int, complete: int) -> None:
        self.series[0] += started
        self.series[1] += complete

    def add_sessions(self, completed: int, missed: int) -> None:
        self.sessions[0] += completed
        self.sessions[1] += missed

    def add_waits(self, month: str, waits: int, drifted: int) -> None:
        counts = self.months.setdefault(month, [0, 0])
        counts[0] += waits
        counts[1] += drifted

    def add_nudges(self, nudged: int, followed: int) -> None:
        self.nudges[0] += nudged
        self.nudges[1] += followed


def _figures(grouping: str, name: str, part: _Part, tolerance: int) -> Figures:
    histogram = part.intervals
    months = tuple(MonthDrift(m, w, d) for m, (w, d) in sorted(part.months.items()))
    return Figures(
        grouping=grouping,
        name=name,
        series_started=part.series[0],
        series_complete=part.series[1],
        sessions_completed=part.sessions[0],
        no_shows=part.sessions[1],
        intervals=sum(histogram.values()),
        median_interval_days=_median(histogram, lambda gap, _: gap),
        median_target_days=_median(histogram, lambda _, target: target),
        median_days_off_target=_median(histogram, lambda gap, target: gap - target),
        in_window=sum(n for (gap, t), n in histogram.items() if abs(gap - t) <= tolerance),
        waits=sum(m.waits for m in months),
        drifted=sum(m.drifted for m in months),
        drift_by_month=months,
        nudged=part.nudges[0],
        nudge_followed=part.nudges[1],
    )


def _median(
    histogram: dict[tuple[int, int], int], value: Callable[[int, int], int]
) -> float | None:
    """The median of `value(gap, target)` over a histogram of (gap, target) counts."""
    counts: Counter[int] = Counter()
    for (gap, target), n in histogram.items():
        counts[value(gap, target)] += n
    total = sum(counts.values())
    if not total:
        return None
    ordered = sorted(counts.items())

    def nth(k: int) -> int:  # the k-th value (from 0) in sorted order
        for v, n in ordered:
            if k < n:
                return v
            k -= n
        raise IndexError(k)

    return (nth((total - 1) // 2) + nth(total // 2)) / 2
