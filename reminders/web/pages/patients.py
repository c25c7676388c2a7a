"""The patient page: each series with its standing and timeline, its sessions, and every
message sent to the patient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from reminders import store
from reminders.config import CHANNELS, Settings
from reminders.models import Patient, Series
from reminders.planning.standing import assess
from reminders.staff.patients import patient_file
from reminders.web.deps import Staff, now_of, settings_of
from reminders.web.pages.rows import SessionRow, log_row, moment, session_row
from reminders.web.pages.shared import full_name, here, local, no_patient, show
from reminders.web.pages.timeline import Timeline, series_timeline

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class SeriesView:
    id: str
    treatment: str
    status: str
    paused: bool
    done: int
    planned: int
    left: int
    interval_days: int
    recommended_next: str
    next_due: str
    next_booked: str
    days_overdue: int
    timeline: Timeline
    sessions: list[SessionRow]


@router.get("/patients/{patient_id:path}", response_class=HTMLResponse)
def patient_page(request: Request, user: Staff, patient_id: str) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    # Views are built inside the transaction and rendered after it: rendering reads the
    # signed-in user in a transaction of its own, and SQLite has one writer at a time.
    with store.transaction(settings.database_url) as db:
        patient = patient_file(db, patient_id)
        context = _patient_context(settings, patient, now) if patient else None
    if context is None:
        return no_patient(request, user, patient_id)
    return show(
        request, "patient.html", user=user, here=here(request), channels=CHANNELS, **context
    )


def _patient_context(settings: Settings, patient: Patient, now: datetime) -> dict[str, Any]:
    zone = settings.clinic.zone
    sent = [m for s in patient.series for session in s.sessions for m in session.messages]
    sent.sort(key=lambda m: (moment(m)[1], m.id), reverse=True)
    return {
        "patient": patient,
        "patient_name": full_name(patient),
        "series": [_series_view(settings, s, now) for s in patient.series],
        "log": [log_row(m, zone, now) for m in sent],
    }


def _series_view(settings: Settings, series: Series, now: datetime) -> SeriesView:
    zone = settings.clinic.zone
    standing = assess(settings, series, now)
    booked = standing.next_booked
    return SeriesView(
        id=series.external_id,
        treatment=series.treatment,
        status=standing.status,
        paused=series.paused,
        done=standing.done,
        planned=standing.planned,
        left=max(standing.planned - standing.done, 0),
        interval_days=standing.interval.days,
        recommended_next=local(standing.recommended_next, zone, "%a %d %b %Y"),
        next_due=local(standing.next_due, zone, "%a %d %b %Y"),
        next_booked=local(booked.starts_at, zone) if booked else "",
        days_overdue=standing.days_overdue(now),
        timeline=series_timeline(settings, series, standing, now),
        sessions=[session_row(settings, s, now) for s in series.sessions],
    )
