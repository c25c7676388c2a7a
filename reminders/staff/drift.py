"""The call list: patients whose series is drifting (see planning/standing.py for the one
definition): nothing booked, and overdue past the tolerance or a no-show since the day after.

One query narrows a million sessions to the series that can be drifting (by each series'
tally of its sessions: how many are done, the last completed session, the last no-show;
then nothing booked from today on); only those are loaded and `assess` decides, so the
definition stays in standing.py. The query may let through a series that is not drifting,
never the reverse.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, distinct, func, literal, not_, or_, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.config import Settings
from reminders.kinds import FOLLOW_UPS
from reminders.models import (
    UNDER_WAY,
    UPCOMING,
    WENT_OUT,
    Message,
    Series,
    Session,
    SessionStatus,
    UTCDateTime,
)
from reminders.planning.standing import SeriesStatus, Standing, assess

# Wall-clock arithmetic (a day later at the same local time) differs from elapsed time by
# a change of the zone's offset: an hour at DST, a day where a zone skipped one. The query
# compares elapsed time, so it lets this much more through and `assess` decides.
CLOCK_SLACK = timedelta(days=2)
# Series loaded per round trip (the IN list).
BATCH = 500


def drifting(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """One record per drifting series, most overdue first, for staff to call."""
    records = []
    with store.transaction(settings.database_url) as db:
        candidates = list(db.scalars(candidates_query(db, settings, now)))
        for start in range(0, len(candidates), BATCH):
            batch = db.scalars(
                select(Series)
                .where(Series.id.in_(candidates[start : start + BATCH]))
                .options(joinedload(Series.patient), selectinload(Series.sessions))
            ).unique()
            found = [(series, assess(settings, series, now)) for series in batch]
            found = [
                (s, standing) for s, standing in found if standing.status == SeriesStatus.DRIFTING
            ]
            sent = _follow_ups_sent(db, [series.id for series, _ in found])
            records += [_record(settings, s, standing, sent[s.id], now) for s, standing in found]
            db.expunge_all()
    return sorted(records, key=lambda r: (-r["days_overdue"], r["since"], r["patient_id"]))


def candidates_query(db: DB, settings: Settings, now: datetime) -> Select[tuple[int]]:
    """Ids of the series that may be drifting: under way (begun, not complete, not paused),
    nothing booked from the start of the clinic's day on (a booking earlier today is the
    patient in the chair), and either a no-show since the last completed session before
    today, or a last completed session more than the interval plus the tolerance ago.

    It reads each series' tally (planning/tallies.py) through `ix_series_under_way`; the
    series it leaves are then checked for a booking one by one."""
    zone, followups = settings.clinic.zone, settings.followups
    today = _moment(datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(UTC))
    last_completed, tallied_no_show = Series.last_completed_at, Series.last_no_show_at
    # The last no-show up to now: the tally's, unless that one is ahead (a session marked
    # missed before its time); for those few series it is asked of the sessions.
    past_no_show = (
        select(func.max(Session.starts_at, type_=UTCDateTime()))
        .where(
            Session.status == SessionStatus.NO_SHOW,
            Session.series_id == Series.id,
            Session.starts_at <= now,
        )
        .scalar_subquery()
    )
    days = func.coalesce(
        func.nullif(Series.target_interval_days, 0),
        case(followups.interval_days, value=Series.treatment, else_=followups.default_interval_days)
        if followups.interval_days
        else followups.default_interval_days,
    )
    tolerance = timedelta(days=followups.tolerance_days)
    latest_due = {  # the last completed session must be before this for the series to be late
        n: now - timedelta(days=n) - tolerance + CLOCK_SLACK for n in _interval_days(db, settings)
    }
    # OFFSET 0 keeps PostgreSQL from turning the check into a join: it would hash every
    # booked session of the store (200,000 at 1M) to test a few hundred series, where one
    # index probe per series is enough.
    booked = (
        select(Session.id)
        .where(
            Session.series_id == Series.id,
            Session.status.in_(UPCOMING),
            Session.starts_at >= today,
        )
        .offset(0)
        .exists()
    )
    overdue = [  # the last completed session more than the interval plus the tolerance ago
        last_completed < _moment(max(latest_due.values())),  # a range of the index
        last_completed < case({n: _moment(due) for n, due in latest_due.items()}, value=days),
    ]
    return (
        select(Series.id)
        .where(
            UNDER_WAY,
            # Three cases, each a range of one of the two indexes, so the database reads
            # only the series that may be late, never every series under way.
            or_(
                # Missed since the last completed session, before today.
                and_(
                    tallied_no_show < today,
                    or_(last_completed.is_(None), tallied_no_show > last_completed),
                ),
                # No no-show since the last completed session, which was too long ago.
                and_(or_(tallied_no_show.is_(None), tallied_no_show <= last_completed), *overdue),
                # The tally's no-show is ahead of now: the same two, with the last one before.
                and_(
                    tallied_no_show > _moment(now),
                    or_(
                        and_(
                            past_no_show < today,
                            or_(last_completed.is_(None), past_no_show > last_completed),
                        ),
                        and_(or_(past_no_show.is_(None), past_no_show <= last_completed), *overdue),
                    ),
                ),
            ),
            not_(booked),
        )
        .order_by(Series.id)
    )


def _moment(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _interval_days(db: DB, settings: Settings) -> set[int]:
    """Every interval a series can have: the clinic's per treatment, its default, and the
    series' own (few distinct values)."""
    followups = settings.followups
    own = db.scalars(  # ix_series_own_interval: index only
        select(distinct(Series.target_interval_days)).where(
            Series.target_interval_days.is_not(None)
        )
    )
    return {followups.default_interval_days, *followups.interval_days.values(), *own} - {0}


def _follow_ups_sent(db: DB, series_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    """The follow-ups each series' patient was sent, in order (what staff say on the call)."""
    if not series_ids:
        return {}
    rows = db.execute(
        select(Session.series_id, Message.sent_at, Message.kind, Message.channel)
        .join(Message.session)
        .where(
            Session.series_id.in_(series_ids),
            Message.kind.in_(FOLLOW_UPS),
            Message.status.in_(WENT_OUT),
            Message.sent_at.is_not(None),
        )
    )
    sent: dict[int, list[tuple[str, str, str]]] = {series_id: [] for series_id in series_ids}
    for series_id, sent_at, kind, channel in rows:
        sent[series_id].append((sent_at.isoformat(), kind, channel))
    return {
        series_id: [
            {"sent_at": at, "kind": kind, "channel": channel} for at, kind, channel in sorted(each)
        ]
        for series_id, each in sent.items()
    }


def _record(
    settings: Settings,
    series: Series,
    standing: Standing,
    sent: list[dict[str, str]],
    now: datetime,
) -> dict[str, Any]:
    patient, zone = series.patient, settings.clinic.zone
    last = standing.missed or standing.last_visit or standing.last_completed
    since, due = standing.on_call_list_from, standing.next_due
    assert last is not None and since is not None and standing.call_reason is not None
    last_session: dict[str, Any] = {
        "session_id": last.external_id,
        "number": last.number,
        "starts_at": last.starts_at.isoformat(),
        "status": last.status,
    }
    return {
        "patient_id": patient.external_id,
        "series_id": series.external_id,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "phone": patient.phone,
        "email": patient.email,
        "last_session": last_session,
        "sessions_done": sum(1 for s in series.sessions if s.status == "completed"),
        "planned_sessions": series.planned_sessions,
        "days_overdue": standing.days_overdue(now),
        # "overdue" (past the due date by more than the tolerance) or "no_show" (missed a
        # session, nothing booked since), and the clinic day it has applied from.
        "reason": str(standing.call_reason),
        "since": since.astimezone(zone).date().isoformat(),
        "next_due": due.isoformat() if due else None,
        "sent": sent,
    }
