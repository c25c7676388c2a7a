"""Patients whose series is drifting: nothing booked, and overdue past the tolerance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.config import Settings
from reminders.kinds import FOLLOW_UPS
from reminders.models import WENT_OUT, Series, Session
from reminders.planning.standing import SeriesStatus, assess


def drifting(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """One record per drifting series, most overdue first, for staff to call."""
    query = select(Series).options(
        joinedload(Series.patient),
        selectinload(Series.sessions).selectinload(Session.messages),
    )
    records = []
    with store.transaction(settings.database_url) as db:
        for series in db.scalars(query).unique():
            standing = assess(settings, series, now)
            if standing.status == SeriesStatus.DRIFTING and standing.last_visit is not None:
                records.append(_record(series, standing.last_visit, standing.days_overdue(now)))
    return sorted(records, key=lambda r: (-r["days_overdue"], r["patient_id"]))


def _record(series: Series, last: Session, overdue: int) -> dict[str, Any]:
    patient = series.patient
    sent = sorted(
        (m.sent_at.isoformat(), m.kind, m.channel)
        for s in series.sessions
        for m in s.messages
        if m.kind in FOLLOW_UPS and m.status in WENT_OUT and m.sent_at is not None
    )
    return {
        "patient_id": patient.external_id,
        "series_id": series.external_id,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "phone": patient.phone,
        "email": patient.email,
        "last_session": {
            "session_id": last.external_id,
            "number": last.number,
            "starts_at": last.starts_at.isoformat(),
            "status": last.status,
        },
        "sessions_done": sum(1 for s in series.sessions if s.status == "completed"),
        "planned_sessions": series.planned_sessions,
        "days_overdue": overdue,
        "sent": [{"sent_at": at, "kind": kind, "channel": channel} for at, kind, channel in sent],
    }
