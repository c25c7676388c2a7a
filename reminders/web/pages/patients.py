"""Finding a patient, and the patient page: each series with its standing and chart, its
sessions, and one timeline of everything in and out (messages with the text they carried,
the patient's replies, what staff did)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import CHANNELS, Settings
from reminders.models import (
    PROBLEMS,
    InboundMessage,
    Message,
    MessageStatus,
    Patient,
    Series,
    StaffAction,
)
from reminders.planning.standing import assess
from reminders.sending.fallback import FALLBACK_BY
from reminders.staff.patients import patient_file, replies_of
from reminders.staff.phones import clinic_region
from reminders.staff.reasons import Explanation, explain
from reminders.staff.search import find_patients
from reminders.staff.worklist import OUTCOMES, actions_for
from reminders.web.deps import Staff, now_of, settings_of
from reminders.web.pages.rows import SessionRow, log_row, moment, session_row
from reminders.web.pages.shared import (
    back,
    can_resend,
    full_name,
    here,
    local,
    no_patient,
    request_key,
    show,
)
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


PAGE_SIZE = 50
# What a patient's reply asked, in the front desk's words.
INTENTS = {
    "confirm": "confirmed the session",
    "reschedule": "asked to reschedule",
    "opt_out": "texted STOP: no more SMS",
    "opt_in": "texted START: SMS back on",
    "help": "asked for help",
}
NOT_HAPPENED = (MessageStatus.PLANNED, MessageStatus.QUEUED)


@dataclass(frozen=True)
class Event:
    """One thing in or out on the patient's timeline."""

    anchor: str
    direction: str  # out, in, staff
    when: str
    title: str
    status: str
    explanation: Explanation | None
    text: str
    subject: str
    to: str
    by: str
    problem: bool
    message_id: int | None = None
    session_id: str = ""
    can_resend: bool = False
    request_key: str = ""
    answer: str = ""  # what the service texted back to a reply


@dataclass(frozen=True)
class Found:
    id: str
    name: str
    phone: str | None
    email: str | None


@router.get("/patients", response_class=HTMLResponse)
def patients_page(request: Request, user: Staff, q: str = "", page: int = 1) -> Response:
    """Find a patient by name, phone (any format) or the clinic's id; every patient, a page
    at a time, when nothing is typed. One match goes straight to the patient."""
    settings = settings_of(request)
    number = max(page, 1)
    with store.transaction(settings.database_url) as db:
        found, more = find_patients(
            db,
            q[:200],
            clinic_region(settings),
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        rows = [Found(p.external_id, full_name(p), p.phone, p.email) for p in found]
    if q.strip() and number == 1 and len(rows) == 1 and not more:
        return back(f"/patients/{quote(rows[0].id, safe='')}")
    query = urlencode({"q": q}) if q else ""
    return show(
        request,
        "patients.html",
        user=user,
        rows=rows,
        search_text=q,
        page=number,
        more=more,
        query=query,
    )


@router.get("/patients/{patient_id:path}", response_class=HTMLResponse)
def patient_page(request: Request, user: Staff, patient_id: str) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    # Views are built inside the transaction and rendered after it: rendering reads the
    # signed-in user in a transaction of its own, and SQLite has one writer at a time.
    with store.transaction(settings.database_url) as db:
        patient = patient_file(db, patient_id)
        context = _patient_context(db, settings, patient, now) if patient else None
    if context is None:
        return no_patient(request, user, patient_id)
    return show(
        request, "patient.html", user=user, here=here(request), channels=CHANNELS, **context
    )


def _patient_context(db: DB, settings: Settings, patient: Patient, now: datetime) -> dict[str, Any]:
    zone = settings.clinic.zone
    every = [m for s in patient.series for session in s.sessions for m in session.messages]
    coming = sorted((m for m in every if m.status in NOT_HAPPENED), key=lambda m: (m.due_at, m.id))
    # Newest first; at the same instant, in the order they were written.
    events: list[tuple[datetime, int, int, Event]] = [
        (moment(m)[1], 1, m.id, _sent(m, zone, now)) for m in every if m.status not in NOT_HAPPENED
    ]
    events += [(r.received_at, 2, r.id, _reply(r, zone)) for r in replies_of(db, patient)]
    events += [(a.at, 3, a.id, _action(a, zone)) for a in actions_for(db, patient.id)]
    events.sort(key=lambda e: (e[0], e[1], e[2]), reverse=True)
    return {
        "patient": patient,
        "patient_name": full_name(patient),
        "series": [_series_view(settings, s, now) for s in patient.series],
        "events": [event for *_, event in events],
        "coming": [log_row(m, zone, now) for m in coming],
    }


def _sent(message: Message, zone: ZoneInfo, now: datetime) -> Event:
    label, at = moment(message)
    session = message.session
    manual = message.triggered_by != "planner"
    by = "" if not manual else message.triggered_by
    title = f"{message.kind.replace('_', ' ')} by {message.channel}"
    if manual and message.resend_of is not None:
        title += " (sent again)" if by != FALLBACK_BY else " (instead of the SMS)"
    elif manual:
        title += " (sent by hand)"
    patient = session.series.patient
    return Event(
        anchor=f"message-{message.id}",
        direction="out",
        when=f"{label} {local(at, zone)}",
        title=title,
        status=str(message.status),
        explanation=explain(message.status, message.reason),
        text=message.body or "",
        subject=message.subject or "",
        to=message.recipient or patient.address_for(message.channel) or "",
        by=by,
        problem=message.status in PROBLEMS,
        message_id=message.id,
        session_id=session.external_id,
        can_resend=can_resend(session, now),
        request_key=request_key(),
    )


def _reply(inbound: InboundMessage, zone: ZoneInfo) -> Event:
    handled = f"handled by {inbound.handled_by}" if inbound.handled_by else ""
    return Event(
        anchor=f"reply-{inbound.id}",
        direction="in",
        when=f"received {local(inbound.received_at, zone)}",
        title="SMS from the patient"
        + ("" if inbound.intent == "other" else f": {INTENTS.get(inbound.intent, inbound.intent)}"),
        status=inbound.intent,
        explanation=None,
        text=inbound.body,
        subject="",
        to=inbound.from_phone,
        by=handled,
        problem=False,
        session_id=inbound.session.external_id if inbound.session else "",
        answer=inbound.auto_reply or "",
    )


def _action(action: StaffAction, zone: ZoneInfo) -> Event:
    label = OUTCOMES.get(action.action, action.action.replace("_", " ").capitalize())
    about = action.item.replace(":", " ", 1)
    return Event(
        anchor=f"action-{action.id}",
        direction="staff",
        when=local(action.at, zone),
        title=f"{label} ({about})",
        status=action.action,
        explanation=None,
        text=action.note,
        subject="",
        to="",
        by=action.actor,
        problem=False,
    )


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
