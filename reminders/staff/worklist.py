"""The call list as the front desk works it: one item per thing to act on, an outcome per
item with who and when, items that leave when handled and come back when things change.

An item is named by what it is about ("series:S1", "message:42", "reply:7", "request:3")
and carries its situation: what it looked like when listed ("no_show:S1-3:no_show" for a
series, the status of a message). A closing outcome (called, booked, wrong number, handled)
takes the item off the list for that situation only: a new missed session or a new failure
is a new situation, and the item is back. Every outcome, and every pause or resume of a
series, is written by `journal.record_action`: the patient page shows them in its timeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload

from reminders import store
from reminders.config import Settings
from reminders.journal import note_on_message, record_action
from reminders.models import (
    PROBLEMS,
    InboundMessage,
    Message,
    Patient,
    Series,
    StaffAction,
)
from reminders.models import PatientRequest as RequestRow
from reminders.models import Session as SessionRow
from reminders.planning.followups import plan_followups
from reminders.staff import attention
from reminders.staff import requests as patient_requests
from reminders.staff.attention import CLOSING, StaleSMS
from reminders.staff.drift import drifting
from reminders.staff.reasons import explain

OUTCOMES: dict[str, str] = {
    "called": "Called: spoke to the patient",
    "left_message": "Left a message",
    "booked": "Booked the next session",
    "wrong_number": "Wrong number",
    "handled": "Handled",
    "note": "Note only",
}
LIST_LIMIT = 200
MAX_NOTE = 500
_MISSING: tuple[bool, int | None] = (False, None)
_ITEM = re.compile(r"^(series|message|reply|request):(.{1,100})$")


class WorklistError(Exception):
    """An outcome for an item that does not exist, or an outcome we do not know."""


@dataclass(frozen=True)
class Action:
    action: str
    label: str
    note: str
    by: str
    at: datetime
    situation: str


@dataclass(frozen=True)
class WorkItem:
    item: str
    situation: str
    group: str  # drift, message, no_report, reply, request
    title: str
    todo: str
    at: datetime | None  # when the situation arose (the missed session, the send, the reply)
    patient_id: str | None = None  # the clinic's id
    patient_name: str = ""
    phone: str | None = None
    email: str | None = None
    series_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    history: tuple[Action, ...] = ()  # this item's actions, newest first

    @property
    def latest(self) -> Action | None:
        return self.history[0] if self.history else None


@dataclass(frozen=True)
class Group:
    """One group of Needs attention: its first open items, and how many are open in all."""

    key: str  # drift, message, no_report, reply, request
    items: list[WorkItem]
    count: int


def needs_attention(
    settings: Settings, now: datetime, first: Mapping[str, int | None] | None = None
) -> list[Group]:
    """Each group's open items (nobody closed them in their current situation), oldest or
    most pressing first, at most `first[group]` of a group named there; the counts are of
    every open item. Closed items are left out in SQL, so a group stops at what it shows."""
    first = first or {}
    drift = _drift_items(settings, now)  # a few hundred at most, closed ones left out below
    stale = attention.stale_sms(settings, now, first.get("no_report"))
    with store.transaction(settings.database_url) as db:
        problems = db.scalars(
            _problems_query()
            .options(
                joinedload(Message.session).joinedload(SessionRow.series).joinedload(Series.patient)
            )
            .limit(first.get("message"))
        )
        replies = db.scalars(
            attention.unhandled_query()
            .options(joinedload(InboundMessage.patient), joinedload(InboundMessage.session))
            .limit(first.get("reply"))
        )
        requests = patient_requests.open_requests(db, settings, first.get("request"))
        shown = {
            "message": [_message_item(m) for m in problems.unique()],
            "no_report": [_stale_item(sms) for sms in stale],
            "reply": [_reply_item(r) for r in replies],
            "request": [_request_item(r) for r in requests],
        }
        counts = {
            "message": _count(db, _problems_query()),
            "no_report": _count(db, attention.stale_query(settings, now)),
            "reply": _count(db, attention.unhandled_query()),
            "request": _count(db, patient_requests.open_query()),
        }
        listed = [*drift, *(item for items in shown.values() for item in items)]
        histories = _histories(db, [item.item for item in listed])
    drift = [item for item in drift if not _closed(item, histories.get(item.item, ()))]
    shown = {"drift": drift[: first.get("drift")], **shown}  # the page's order
    counts["drift"] = len(drift)
    return [
        Group(
            key, [replace(i, history=tuple(histories.get(i.item, ()))) for i in items], counts[key]
        )
        for key, items in shown.items()
    ]


def call_list(settings: Settings, now: datetime) -> list[WorkItem]:
    """Every item on Needs attention that nobody has closed in its current situation."""
    return [item for group in needs_attention(settings, now) for item in group.items]


def _count(db: DB, query: Select[Any]) -> int:
    return db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _problems_query() -> Select[tuple[Message]]:
    """Messages that failed, went undelivered or ended unknown and that staff have not
    closed in that status, latest first."""
    newest = func.coalesce(Message.sent_at, Message.attempted_at, Message.due_at)
    return (
        select(Message)
        .where(
            Message.status.in_(PROBLEMS),
            attention.not_closed(attention.message_item(), Message.status),
        )
        .order_by(newest.desc(), Message.id.desc())
    )


def _closed(item: WorkItem, history: Sequence[Action]) -> bool:
    """Closed in the situation it is still in (SQL says the same for the other groups)."""
    return any(a.action in CLOSING and a.situation == item.situation for a in history)


def _histories(db: DB, items: Sequence[str]) -> dict[str, list[Action]]:
    found: dict[str, list[Action]] = {}
    for start in range(0, len(items), 500):  # bounded IN lists
        query = (
            select(StaffAction)
            .where(StaffAction.item.in_(items[start : start + 500]))
            .order_by(StaffAction.id.desc())
        )
        for row in db.scalars(query):
            found.setdefault(row.item, []).append(_action(row))
    return found


def _action(row: StaffAction) -> Action:
    label = OUTCOMES.get(row.action, row.action.replace("_", " ").capitalize())
    return Action(row.action, label, row.note, row.actor, row.at, row.situation)


def _drift_items(settings: Settings, now: datetime) -> list[WorkItem]:
    items = []
    for record in drifting(settings, now):
        last = record["last_session"]
        reason = str(record.get("reason") or "overdue")
        missed = reason == "no_show"
        days = record["days_overdue"]
        title = (
            f"missed session {last['number']}, nothing booked since"
            if missed
            else f"overdue by {days} day{'' if days == 1 else 's'}, nothing booked"
        )
        items.append(
            WorkItem(
                item=f"series:{record['series_id']}",
                situation=f"{reason}:{last['session_id']}:{last['status']}",
                group="drift",
                title=title,
                todo="call to book the next session",
                at=datetime.fromisoformat(last["starts_at"]),
                patient_id=record["patient_id"],
                patient_name=f"{record['first_name']} {record['last_name']}".strip(),
                phone=record["phone"],
                email=record["email"],
                series_id=record["series_id"],
                detail={**record, "reason": reason},
            )
        )
    return items


def _stale_item(sms: StaleSMS) -> WorkItem:
    return WorkItem(
        item=f"message:{sms.message_id}",
        situation="no_report",
        group="no_report",
        title=f"{sms.kind.replace('_', ' ')} by SMS: no delivery report",
        todo="the number may be wrong: check it with the patient",
        at=sms.sent_at,
        patient_id=sms.patient_id,
        patient_name=sms.patient_name,
        detail={"message_id": sms.message_id, "provider_status": sms.provider_status},
    )


def _message_item(message: Message) -> WorkItem:
    patient = message.session.series.patient
    plain = explain(message.status, message.reason)
    return WorkItem(
        item=f"message:{message.id}",
        situation=str(message.status),
        group="message",
        title=f"{message.kind.replace('_', ' ')} by {message.channel}: {plain.text}",
        todo=plain.todo,
        at=message.sent_at or message.attempted_at or message.due_at,
        patient_id=patient.external_id,
        patient_name=_name(patient),
        phone=patient.phone,
        email=patient.email,
        series_id=message.session.series.external_id,
        detail={
            "message_id": message.id,
            "session_id": message.session.external_id,
            "session_at": message.session.starts_at,
            "status": message.status,
            "reason": message.reason,
            "channel": message.channel,
        },
    )


def _reply_item(inbound: InboundMessage) -> WorkItem:
    patient, session = inbound.patient, inbound.session
    asks = inbound.intent == "reschedule"
    return WorkItem(
        item=f"reply:{inbound.id}",
        situation="open",
        group="reply",
        title="asked to reschedule" if asks else "wrote to the SMS number",
        todo="call back, then record what you did",
        at=inbound.received_at,
        patient_id=patient.external_id if patient else None,
        patient_name=_name(patient) if patient else "",
        phone=inbound.from_phone,
        email=patient.email if patient else None,
        detail={
            "inbound_id": inbound.id,
            "body": inbound.body,
            "intent": inbound.intent,
            "auto_reply": inbound.auto_reply,
            "session_id": session.external_id if session else None,
            "session_at": session.starts_at if session else None,
        },
    )


def _request_item(request: patient_requests.PatientRequest) -> WorkItem:
    days = ", ".join(day.strftime("%a %d %b") for day in request.preferred_days)
    by_sms = " by SMS" if request.source == "sms" else ""  # an "R": no days to offer
    asks = f"another time{by_sms}" + (f" (would take {days})" if days else "")
    return WorkItem(
        item=f"request:{request.id}",
        situation="open",
        group="request",
        title=f"asked for {asks}" if request.kind == "reschedule" else "confirmed by link",
        todo="book in the clinic's system, then mark handled",
        at=request.received_at,
        patient_id=request.patient_external_id or None,
        patient_name=request.patient_name,
        detail={
            "request_id": request.id,
            "kind": request.kind,
            "note": request.note,
            "source": request.source,
            "session_id": request.session_external_id,
            "session_at": request.session_at,
        },
    )


def _name(patient: Patient) -> str:
    return f"{patient.first_name} {patient.last_name}".strip()


def record_outcome(
    settings: Settings,
    item: str,
    situation: str,
    outcome: str,
    note: str,
    by: str,
    now: datetime,
) -> None:
    """Write staff's outcome for an item in the situation they saw; replies and patient
    requests are marked handled on a closing outcome. Raises WorklistError on bad input."""
    if outcome not in OUTCOMES:
        raise WorklistError(f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    note = note.strip()[:MAX_NOTE]
    if outcome == "note" and not note:
        raise WorklistError("a note needs some text")
    found = _ITEM.match(item)
    if found is None or len(situation) > 200:
        raise WorklistError(f"no call-list item {item!r}")
    kind, key = found.groups()
    with store.transaction(settings.database_url) as db:
        found_it, patient_id = _settle(db, kind, key, outcome in CLOSING, by, now, outcome, note)
        if not found_it:
            raise WorklistError(f"no call-list item {item!r}")
        record_action(
            db,
            item=item,
            situation=situation,
            action=outcome,
            by=by,
            now=now,
            note=note,
            patient_id=patient_id,
        )


def _settle(
    db: DB, kind: str, key: str, closing: bool, by: str, now: datetime, outcome: str, note: str
) -> tuple[bool, int | None]:
    """Whether the item exists and its patient, after what a closing outcome implies."""
    if kind == "series":
        series = db.scalars(select(Series).where(Series.external_id == key)).one_or_none()
        return (True, series.patient_id) if series else _MISSING
    if not key.isdigit():
        return _MISSING
    if kind == "message":
        message = db.get(Message, int(key))
        if message is None:
            return _MISSING
        why = f"staff: {OUTCOMES[outcome].lower()}" + (f" ({note})" if note else "")
        note_on_message(db, message, why, now, actor=by)
        return True, message.session.series.patient_id
    if kind == "reply":
        inbound = db.get(InboundMessage, int(key))
        if inbound is None:
            return _MISSING
        if closing and inbound.handled_at is None:
            inbound.handled_at, inbound.handled_by = now, by
            # An "R" and its request are one wish: handled here, the request is too.
            request_row = patient_requests.request_of_reply(db, inbound)
            if request_row is not None:
                patient_requests.mark_handled(db, request_row.id, by, now)
        return True, inbound.patient_id
    request = db.get(RequestRow, int(key))
    if request is None:
        return _MISSING
    if closing and request.status == patient_requests.OPEN:
        patient_requests.mark_handled(db, request.id, by, now)
    return True, request.patient_id


def set_paused(settings: Settings, series_id: str, paused: bool, by: str, now: datetime) -> int:
    """Pause or resume a series' follow-ups from the console: re-planned at once, and in the
    journal. Returns the planned rows changed; LookupError if there is no such series."""
    with store.transaction(settings.database_url) as db:
        series = db.scalars(select(Series).where(Series.external_id == series_id)).one_or_none()
        if series is None:
            raise LookupError(f"no series {series_id!r}")
        series.paused = paused
        changed = plan_followups(db, settings, series, now)
        record_action(
            db,
            item=f"series:{series_id}",
            situation="",
            action="paused" if paused else "resumed",
            by=by,
            now=now,
            patient_id=series.patient_id,
        )
        return changed


def paused_series(db: DB, limit: int = LIST_LIMIT) -> list[Series]:
    """Paused series with their patients, for resuming from Needs attention."""
    query = (
        select(Series)
        .where(Series.paused.is_(True))
        .options(joinedload(Series.patient))
        .order_by(Series.external_id)
        .limit(limit)
    )
    return list(db.scalars(query))


def actions_for(db: DB, patient_id: int) -> list[StaffAction]:
    """Everything staff recorded about a patient, for the patient's timeline."""
    query = select(StaffAction).where(StaffAction.patient_id == patient_id)
    return list(db.scalars(query.order_by(StaffAction.id)))
