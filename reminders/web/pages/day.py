"""The day view: one clinic day's sessions with each one's confirmation and reminders; it
prints as the day sheet (the stylesheet's print rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from reminders import store
from reminders.config import Settings
from reminders.models import Session, SessionStatus
from reminders.staff.day_sheet import (
    confirmations,
    counts_between,
    practitioners,
    sessions_between,
)
from reminders.web.deps import Staff, now_of, settings_of
from reminders.web.pages.rows import MessageRow, SessionRow, session_row
from reminders.web.pages.shared import day_start, here, local, parse_day, show

router = APIRouter(include_in_schema=False)

# Sessions a page shows: one clinic's day fits, a host of many clinics pages on.
PAGE = 150


@dataclass(frozen=True)
class DayRow:
    session: SessionRow
    end: str
    phone: str | None
    confirmation: str  # "confirmed", "not confirmed", or what happened instead
    confirmed_at: str  # when the patient's reply confirmed it, if one did
    reminders: list[MessageRow]  # the session's reminders (follow-ups are for other pages)


@router.get("/day", response_class=HTMLResponse)
def day_page(
    request: Request, user: Staff, day: str = "", practitioner: str = "", after: int | None = None
) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    today = now.astimezone(zone).date()
    chosen = parse_day(day) or today
    start, end = day_start(chosen, zone), day_start(chosen + timedelta(days=1), zone)
    with store.transaction(settings.database_url) as db:
        found = sessions_between(db, start, end, practitioner, limit=PAGE + 1, after=after)
        next_after = found[PAGE - 1].id if len(found) > PAGE else None
        found = found[:PAGE]
        confirmed = confirmations(db, [s.id for s in found])
        rows = [_day_row(settings, s, confirmed.get(s.id), now) for s in found]
        names = practitioners(db, start, end, practitioner)
        counts = counts_between(db, start, end, practitioner)
    return show(
        request,
        "day.html",
        user=user,
        rows=rows,
        counts=counts,
        deeper=after is not None,
        next_after=next_after,
        day=chosen,
        today=today,
        previous=chosen - timedelta(days=1),
        following=chosen + timedelta(days=1),
        practitioner=practitioner,
        practitioners=names,
        bad_day=bool(day) and parse_day(day) is None,
        printed_at=local(now, zone),
        clinic=settings.clinic,
        here=here(request),
    )


def _day_row(
    settings: Settings, session: Session, replied_at: datetime | None, now: datetime
) -> DayRow:
    zone = settings.clinic.zone
    row = session_row(settings, session, now)
    reminders = [m for m in row.messages if m.reminder]
    return DayRow(
        session=row,
        end=local(session.starts_at + timedelta(minutes=session.duration_minutes), zone, "%H:%M"),
        phone=session.series.patient.phone,
        confirmation=_confirmation(session.status),
        confirmed_at=local(replied_at, zone, "%a %d %b %H:%M") if replied_at else "",
        reminders=reminders,
    )


def _confirmation(status: str) -> str:
    if status == SessionStatus.CONFIRMED:
        return "confirmed"
    if status == SessionStatus.BOOKED:
        return "not confirmed"
    return status.replace("_", " ")
