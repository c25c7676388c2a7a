"""What the staff pages share: the notice a form post leaves, redirects that stay on this
site, and instants shown as the clinic's wall-clock time."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from reminders.models import UPCOMING, Patient, Session
from reminders.staff.accounts import StaffUser
from reminders.web.render import page


def show(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the notice left by the last form post, shown once."""
    notice = request.session.pop("flash", None)
    if isinstance(notice, list) and len(notice) in (2, 3):
        anchor = notice[2] if len(notice) == 3 else ""
        context.setdefault("flash", {"kind": notice[0], "text": notice[1], "anchor": anchor})
    return page(request, template, status_code, **context)


def flash(request: Request, kind: str, text: str, anchor: str = "") -> None:
    """A notice for the next page; with an anchor (a row's id) it shows next to that row too,
    where the person clicked, as well as at the top."""
    request.session["flash"] = [kind, text, anchor]


def back(target: str) -> RedirectResponse:
    return RedirectResponse(same_site(target), status_code=303)


def anchor_of(target: str) -> str:
    """The row a form's return address points at ('/messages?page=2#message-12')."""
    return target.partition("#")[2]


def same_site(target: str) -> str:
    """Only a path on this site: '//host' and '/\\host' would leave it, CR/LF would split it."""
    leaves = target.startswith(("//", "/\\")) or "\r" in target or "\n" in target
    return target if target.startswith("/") and not leaves else "/"


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def local(moment: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %Y %H:%M") -> str:
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def request_key() -> str:
    # One per rendered form: posting the same form twice sends once (see resend()).
    return secrets.token_urlsafe(24)


def can_resend(session: Session, now: datetime) -> bool:
    return session.status in UPCOMING and session.starts_at > now


def full_name(patient: Patient) -> str:
    return f"{patient.first_name} {patient.last_name}".strip()


def no_patient(request: Request, user: StaffUser, patient_id: str) -> HTMLResponse:
    text = f"No patient {patient_id!r}."
    return show(request, "problem.html", 404, user=user, title="No such patient", text=text)
