"""Needs attention, worked as a list: patients to call (drifting series, missed sessions),
messages that did not get through, replies and patient requests; an outcome per item, and
pausing or resuming a series. The rules live in `reminders.staff.worklist`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from reminders import store
from reminders.staff.worklist import (
    OUTCOMES,
    WorkItem,
    WorklistError,
    needs_attention,
    paused_series,
    record_outcome,
    set_paused,
)
from reminders.web.deps import CsrfChecked, Staff, now_of, settings_of
from reminders.web.pages.shared import anchor_of, back, flash, full_name, here, local, show

router = APIRouter(include_in_schema=False)

# Items a group shows at first: rendering 1,400 open items took most of half a second, and
# staff work from the top; "Show all" opens one group whole.
SHOWN = 50
GROUPS = {
    "drift": "Patients to call",
    "message": "Messages that did not get through",
    "no_report": "SMS with no delivery report",
    "reply": "Reschedule requests and replies",
    "request": "Patient requests",
}
EXPLAINED = {
    "drift": "Nothing booked, and overdue past the tolerance or a session missed. Call them, "
    "then record what happened: the patient leaves the list, and comes back if they miss "
    "another session.",
    "message": "Failed: the provider refused it. Undelivered: the carrier could not deliver it. "
    "Unknown: it may or may not have arrived; the reconciler checks with the provider, so do "
    "not resend in a hurry.",
    "no_report": "Sent over a day ago, and Twilio has neither confirmed nor denied delivery. "
    "The number may be wrong: check it with the patient.",
    "reply": "What patients wrote to the SMS number, and an R we could not match to a booked "
    "session.",
    "request": "What patients asked for by their self-service link, or by replying R to a "
    "reminder: one item per session, however often they asked.",
}


@dataclass(frozen=True)
class ItemView:
    item: WorkItem
    anchor: str
    when: str
    latest: str  # the last outcome recorded, in words, if any


@dataclass(frozen=True)
class PausedView:
    series_id: str
    treatment: str
    patient_id: str
    patient_name: str


@router.get("/attention", response_class=HTMLResponse)
def attention_page(request: Request, user: Staff, whole: str = "") -> HTMLResponse:
    """Each group's first SHOWN items (the counts are every open item), or one group whole."""
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    first = {key: None if key == whole else SHOWN for key in GROUPS}
    groups = needs_attention(settings, now, first)
    with store.transaction(settings.database_url) as db:
        paused = [
            PausedView(s.external_id, s.treatment, s.patient.external_id, full_name(s.patient))
            for s in paused_series(db)
        ]
    return show(
        request,
        "attention.html",
        user=user,
        groups=[
            (g.key, GROUPS[g.key], EXPLAINED[g.key], [_view(i, zone) for i in g.items], g.count)
            for g in groups
        ],
        total=sum(g.count for g in groups),
        paused=paused,
        outcomes=OUTCOMES,
        here=here(request),
    )


def _view(item: WorkItem, zone: ZoneInfo) -> ItemView:
    latest = item.latest
    said = ""
    if latest is not None:
        said = f"{latest.label} by {latest.by}, {local(latest.at, zone, '%a %d %b %H:%M')}"
        said += f": {latest.note}" if latest.note else ""
    anchor = "item-" + item.item.replace(":", "-")
    return ItemView(item, anchor, local(item.at, zone) if item.at else "", said)


@router.post("/attention/outcome", dependencies=[CsrfChecked])
def save_outcome(
    request: Request,
    user: Staff,
    item: Annotated[str, Form()],
    outcome: Annotated[str, Form()],
    situation: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/attention",
) -> Response:
    """Staff record what they did about one item; a closing outcome takes it off the list."""
    anchor = anchor_of(next)
    try:
        record_outcome(
            settings_of(request), item, situation, outcome, note, user.name, now_of(request)
        )
    except WorklistError as exc:
        flash(request, "error", f"Not saved: {exc}", anchor)
        return back(next)
    flash(request, "notice", f"Saved: {OUTCOMES[outcome].lower()}.")
    return back(next.partition("#")[0])


@router.post("/attention/replies/{inbound_id}/handled", dependencies=[CsrfChecked])
def mark_reply_handled(request: Request, user: Staff, inbound_id: int) -> Response:
    """Staff called the patient back (or read the text): off the list, with who and when."""
    try:
        record_outcome(
            settings_of(request),
            f"reply:{inbound_id}",
            "open",
            "handled",
            "",
            user.name,
            now_of(request),
        )
    except WorklistError:
        flash(request, "error", "That reply does not exist.")
        return back("/attention")
    flash(request, "notice", "Marked as handled.")
    return back("/attention")


@router.post("/series/{series_id:path}/pause", dependencies=[CsrfChecked])
def pause_series(
    request: Request, user: Staff, series_id: str, next: Annotated[str, Form()] = "/attention"
) -> Response:
    return _pause(request, user.name, series_id, True, next)


@router.post("/series/{series_id:path}/resume", dependencies=[CsrfChecked])
def resume_series(
    request: Request, user: Staff, series_id: str, next: Annotated[str, Form()] = "/attention"
) -> Response:
    return _pause(request, user.name, series_id, False, next)


def _pause(request: Request, by: str, series_id: str, paused: bool, next: str) -> Response:
    try:
        changed = set_paused(settings_of(request), series_id, paused, by, now_of(request))
    except LookupError as exc:
        flash(request, "error", f"Not changed: {exc}", anchor_of(next))
        return back(next)
    state = "paused: no follow-ups" if paused else "resumed: follow-ups planned again"
    flash(request, "notice", f"Series {series_id} {state} ({changed} planned message(s) changed).")
    return back(next)
