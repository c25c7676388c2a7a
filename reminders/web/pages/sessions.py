"""The sessions page: the coming two weeks with each session's reminders, and resending one."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from reminders import store
from reminders.config import CHANNELS
from reminders.models import WENT_OUT
from reminders.sending.resend import ResendRefused, resend
from reminders.staff.day_sheet import counts_between, practitioners, sessions_between
from reminders.staff.reasons import explain
from reminders.web.deps import CsrfChecked, Staff, now_of, settings_of
from reminders.web.pages.rows import session_row
from reminders.web.pages.shared import anchor_of, back, day_start, flash, here, parse_day, show

router = APIRouter(include_in_schema=False)

WINDOW_DAYS = 14  # the sessions page shows the chosen day and this many after it
MAX_REASON = 200  # a resend's reason, as the form's maxlength
# Sessions a page shows; a large clinic books thousands in two weeks, the next link the rest.
PAGE = 100


@router.get("/", response_class=HTMLResponse)
def sessions_page(
    request: Request, user: Staff, day: str = "", practitioner: str = "", after: int | None = None
) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    today = now.astimezone(zone).date()
    first = parse_day(day) or today
    start, end = day_start(first, zone), day_start(first + timedelta(days=WINDOW_DAYS + 1), zone)
    with store.transaction(settings.database_url) as db:
        found = sessions_between(db, start, end, practitioner, limit=PAGE + 1, after=after)
        rows = [session_row(settings, s, now) for s in found[:PAGE]]
        names = practitioners(db, start, end, practitioner)
        total = counts_between(db, start, end, practitioner).sessions
    return show(
        request,
        "sessions.html",
        user=user,
        rows=rows,
        total=total,
        deeper=after is not None,
        next_after=found[PAGE - 1].id if len(found) > PAGE else None,
        day=first,
        last_day=first + timedelta(days=WINDOW_DAYS),
        today=today,
        practitioner=practitioner,
        practitioners=names,
        bad_day=bool(day) and parse_day(day) is None,
        here=here(request),
        channels=CHANNELS,
    )


@router.post("/sessions/{session_id:path}/resend", dependencies=[CsrfChecked])
def resend_session(
    request: Request,
    user: Staff,
    session_id: str,
    channel: Annotated[str, Form()],
    request_key: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Send the session's reminder again now, through the CLI's own resend()."""
    anchor = anchor_of(next)
    if channel not in CHANNELS:
        flash(request, "error", f"Resend refused: unknown channel {channel!r}", anchor)
        return back(next)
    try:
        message = resend(
            settings_of(request),
            session_id,
            channel,
            user.name,
            reason.strip()[:MAX_REASON],
            now_of(request),
            # The column holds 64 characters; ours are 32. A longer one was not made here.
            request_key=request_key[:64] or None,
        )
    except ResendRefused as exc:
        flash(request, "error", f"Resend refused: {exc}", anchor)
        return back(next)
    ok = message.status in WENT_OUT
    outcome = message.status + ("" if ok else f": {explain(message.status, message.reason)}")
    text = f"Resend of {session_id} by {channel}: {outcome}"
    flash(request, "notice" if ok else "error", text, anchor)
    return back(next)
