"""The public page behind the self-service link in reminder and nudge emails: confirm the
session, or ask for another time on days that keep the series on schedule.

No staff login: the signed, expiring token in the path names the session. The forms POST
with the session cookie's form token (a link scanner that only GETs changes nothing; a
cross-site form cannot know the token), and each answer redirects back to the page, so a
reload never posts twice. Nothing here moves a session: a request goes to staff.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime

from babel.dates import format_date, format_time
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from reminders.config import Settings
from reminders.feedback.self_service import (
    Appointment,
    RequestRefused,
    appointment,
    confirm_by_link,
    request_by_link,
)
from reminders.web.deps import csrf_token, now_of, settings_of
from reminders.web.render import templates
from reminders.wording.session_links import LinkProblem, SessionLink, read_token
from reminders.wording.templating import LOCALES, display_phone

router = APIRouter(include_in_schema=False)
NOTICE = "appointment_notice"
# What each answer says; the page words them in the patient's language.
NOTICES = frozenset(
    {"confirmed", "requested", "changed", "no_days", "bad_day", "not_upcoming", "complete", "form"}
)
MAX_DAYS = 31


@router.get("/appointment/{token}", response_class=HTMLResponse)
async def appointment_page(request: Request, token: str) -> Response:
    settings = settings_of(request)
    link = read_token(settings, token, now_of(request))
    if isinstance(link, LinkProblem):
        return _unusable(request, link)
    found = await run_in_threadpool(appointment, settings, link.session_id, now_of(request))
    if found is None:
        return _unusable(request, LinkProblem.INVALID)
    notice = request.session.pop(NOTICE, None)
    return _show(request, settings, found, notice if notice in NOTICES else None)


@router.post("/appointment/{token}/confirm", response_class=HTMLResponse)
async def confirm_post(request: Request, token: str) -> Response:
    posted = await _posted(request, token)
    if isinstance(posted, Response):
        return posted
    link, form = posted
    settings, now, shown = settings_of(request), now_of(request), str(form.get("shown", ""))
    return await _answer(
        request, token, "confirmed", lambda: confirm_by_link(settings, link.session_id, shown, now)
    )


@router.post("/appointment/{token}/request", response_class=HTMLResponse)
async def request_post(request: Request, token: str) -> Response:
    posted = await _posted(request, token)
    if isinstance(posted, Response):
        return posted
    link, form = posted
    settings, now, shown = settings_of(request), now_of(request), str(form.get("shown", ""))
    days = [str(day) for day in form.getlist("day")][:MAX_DAYS]
    note = str(form.get("note", ""))
    return await _answer(
        request,
        token,
        "requested",
        lambda: request_by_link(settings, link.session_id, shown, days, note, now),
    )


async def _posted(request: Request, token: str) -> tuple[SessionLink, FormData] | Response:
    """The link and the form, or the page to answer with instead (bad link, stale form)."""
    link = read_token(settings_of(request), token, now_of(request))
    if isinstance(link, LinkProblem):
        return _unusable(request, link)
    form = await request.form()
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        return _back(request, token, "form")
    if not secrets.compare_digest(sent, expected):
        return _back(request, token, "form")
    return link, form


async def _answer(
    request: Request, token: str, done: str, action: Callable[[], Appointment | None]
) -> Response:
    """Run the patient's choice off the event loop; back to the page with what happened."""
    try:
        found = await run_in_threadpool(action)
    except RequestRefused as refused:
        return _back(request, token, refused.code)
    if found is None:
        return _unusable(request, LinkProblem.INVALID)
    return _back(request, token, done)


def _back(request: Request, token: str, notice: str) -> RedirectResponse:
    request.session[NOTICE] = notice
    return RedirectResponse(f"/appointment/{token}", status_code=303)


def _show(
    request: Request, settings: Settings, found: Appointment, notice: str | None
) -> HTMLResponse:
    language = found.language
    zone = settings.clinic.zone
    local = found.starts_at.astimezone(zone) if found.starts_at else None
    context = {
        "clinic": settings.clinic,
        "phone": display_phone(settings.clinic.phone),
        "fr": language == "fr",
        "language": language,
        "found": found,
        "notice": notice,
        "csrf_token": csrf_token(request),
        "shown": f"{found.session_id}@{found.starts_at.isoformat()}" if found.starts_at else "",
        "when": _moment(local, language) if local else "",
        "days": [(day.isoformat(), day_label(day, language)) for day in found.offered],
        "requested": ", ".join(day_label(day, language) for day in found.requested_days),
        "requested_values": {day.isoformat() for day in found.requested_days},
    }
    return templates.TemplateResponse(request, "self_service/appointment.html", context)


def _unusable(request: Request, problem: LinkProblem) -> HTMLResponse:
    """An expired or tampered link: a page saying so in both languages, nothing changed."""
    settings = settings_of(request)
    context = {
        "clinic": settings.clinic,
        "phone": display_phone(settings.clinic.phone),
        "problem": str(problem),
    }
    status = 410 if problem == LinkProblem.EXPIRED else 404
    return templates.TemplateResponse(
        request, "self_service/unusable.html", context, status_code=status
    )


def day_label(day: date, language: str) -> str:
    """'Tuesday, March 17' / 'mardi 17 mars' ('1er' for the first of a month in French)."""
    if language == "fr":
        pattern = "EEEE d'er' MMMM" if day.day == 1 else "EEEE d MMMM"
    else:
        pattern = "EEEE, MMMM d"
    return str(format_date(day, pattern, locale=LOCALES[language]))


def _moment(local: datetime, language: str) -> str:
    day = day_label(local.date(), language)
    year = format_date(local, "y", locale=LOCALES[language])
    clock = str(format_time(local, "short", locale=LOCALES[language]))
    if language == "fr":
        return f"{day} {year} à {clock.replace(' h 00', ' h')}"
    return f"{day}, {year} at {clock}"
