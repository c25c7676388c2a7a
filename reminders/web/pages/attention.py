"""Needs attention: messages that went wrong, replies nobody has handled, SMS without a
delivery report, drifting patients; and marking a reply handled."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from reminders import store
from reminders.config import CHANNELS
from reminders.staff.attention import StaffReply, mark_handled, stale_sms, unhandled
from reminders.staff.drift import drifting
from reminders.staff.log_search import problem_messages
from reminders.web.deps import CsrfChecked, Staff, now_of, settings_of
from reminders.web.pages.rows import log_row
from reminders.web.pages.shared import back, flash, here, local, show

router = APIRouter(include_in_schema=False)

ATTENTION_LIMIT = 200


@router.get("/attention", response_class=HTMLResponse)
def attention_page(request: Request, user: Staff) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    with store.transaction(settings.database_url) as db:
        problems = [log_row(m, zone, now) for m in problem_messages(db, ATTENTION_LIMIT)]
    return show(
        request,
        "attention.html",
        user=user,
        problems=problems,
        limit=ATTENTION_LIMIT,
        replies=[_reply_row(r, zone) for r in unhandled(settings, ATTENTION_LIMIT)],
        unconfirmed=[
            {**asdict(sms), "sent_at": local(sms.sent_at, zone)} for sms in stale_sms(settings, now)
        ],
        drifting=[_drift_row(record, zone) for record in drifting(settings, now)],
        here=here(request),
        channels=CHANNELS,
    )


def _reply_row(reply: StaffReply, zone: ZoneInfo) -> dict[str, Any]:
    return {
        **asdict(reply),
        "received_at": local(reply.received_at, zone),
        "session_at": local(reply.session_at, zone),
    }


@router.post("/attention/replies/{inbound_id}/handled", dependencies=[CsrfChecked])
def mark_reply_handled(request: Request, user: Staff, inbound_id: int) -> Response:
    """Staff called the patient back (or read the text): off the list, with who and when."""
    if mark_handled(settings_of(request), inbound_id, user.name, now_of(request)):
        flash(request, "notice", "Marked as handled.")
    else:
        flash(request, "error", "That reply was already handled or does not exist.")
    return back("/attention")


def _drift_row(record: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """drifting()'s record with its UTC instants as clinic days."""
    day = "%a %d %b %Y"
    last = record["last_session"]
    return {
        **record,
        "last_session": {**last, "at": local(datetime.fromisoformat(last["starts_at"]), zone)},
        "sent": [
            {**sent, "at": local(datetime.fromisoformat(sent["sent_at"]), zone, day)}
            for sent in record["sent"]
        ],
    }
