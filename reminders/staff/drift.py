"""The call list: patients whose series is drifting (see planning/standing.py for the one
definition): nothing booked, and overdue past the tolerance or a no-show since the day after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.config import Settings
from reminders.kinds import FOLLOW_UPS
from reminders.models import WENT_OUT, Series, Session
from reminders.planning.standing import SeriesStatus, Standing, assess


def drifting(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """One record per drifting series, most overdue first, for staff to call."""
    query = (
        select(Series)
        .where(Series.paused.is_(False))
        .options(
            joinedload(Series.patient),
            selectinload(Series.sessions).selectinload(Session.messages),
        )
    )
    records = []
    with store.transaction(settings.database_url) as db:
        for series in db.scalars(query).unique():
            standing = assess(settings, series, now)
            if standing.status == SeriesStatus.DRIFTING:
                records.append(_record(settings, series, standing, now))
    return sorted(records, key=lambda r: (-r["days_overdue"], r["since"], r["patient_id"]))


def _record(
    settings: Settings, series: Series, standing: Standing, now: datetime
) -> dict[str, Any]:
    patient, zone = series.patient, settings.clinic.zone
    last = standing.missed or standing.last_visit or standing.last_completed
    since, due = standing.on_call_list_from, standing.next_due
    assert last is not None and since is not None and standing.call_reason is not None
    sent = sorted(
        (m.sent_at.isoformat(), m.kind, m.channel)
        for s in series.sessions
        for m in s.messages
        if m.kind in FOLLOW_UPS and m.status in WENT_OUT and m.sent_at is not None
    )
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
        "sent": [{"sent_at": at, "kind": kind, "channel": channel} for at, kind, channel in sent],
    }
