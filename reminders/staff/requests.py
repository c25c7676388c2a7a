"""What patients asked for by self-service link or SMS reply, for Needs attention.

A request never changes the schedule: staff read the days the patient would take, book in
the clinic's own system, and mark the request handled here. Requests are written by
`feedback.self_service`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload

from reminders import models
from reminders.config import Settings
from reminders.feedback.self_service import HANDLED, OPEN, RequestKind
from reminders.journal import record_request

__all__ = [
    "HANDLED",
    "OPEN",
    "PatientRequest",
    "RequestError",
    "mark_handled",
    "open_query",
    "open_requests",
    "reply_has_request",
    "request_of_reply",
]


class RequestError(Exception):
    """No such request, or it was handled already: the message says which."""


@dataclass(frozen=True)
class PatientRequest:
    id: int
    patient_id: int
    patient_name: str
    session_id: int | None
    kind: RequestKind
    preferred_days: tuple[date, ...]
    note: str
    received_at: datetime
    # For links and display: the clinic's own ids, and the session's time as booked.
    patient_external_id: str = ""
    session_external_id: str | None = None
    session_at: datetime | None = None
    source: str = "link"  # link, sms


def open_query() -> Select[tuple[models.PatientRequest]]:
    """Requests nobody has handled yet, oldest first (the longest waiting on top)."""
    request = models.PatientRequest
    return select(request).where(request.status == OPEN).order_by(request.received_at, request.id)


def open_requests(db: DB, settings: Settings, limit: int | None = None) -> list[PatientRequest]:
    """The first `limit` (or all) of `open_query`, with their patients and sessions."""
    rows = db.scalars(
        open_query()
        .options(
            joinedload(models.PatientRequest.patient), joinedload(models.PatientRequest.session)
        )
        .limit(limit)
    ).all()
    return [_view(row) for row in rows]


def mark_handled(db: DB, request_id: int, by: str, now: datetime) -> None:
    """Take a request off the list (and the SMS reply behind it, if any)."""
    row = db.get(models.PatientRequest, request_id, with_for_update=True)
    if row is None:
        raise RequestError(f"there is no patient request {request_id}")
    if row.status != OPEN:
        raise RequestError(f"patient request {request_id} was handled by {row.handled_by}")
    row.handled_at, row.handled_by = now, by
    record_request(db, row, HANDLED, "handled by staff", now, actor=by)
    for inbound in _replies_behind(db, row):
        inbound.handled_at, inbound.handled_by = now, by


def reply_has_request() -> ColumnElement[bool]:
    """Whether an SMS reply is an "R" that became a patient request (`ask_another_time`):
    Needs attention lists the request alone, one item for one wish.

    The request's own reply, or any "R" for a session whose request is still open: a second
    "R" joins the first request without being linked to it."""
    reply = models.InboundMessage
    request = models.PatientRequest
    covering = select(request.id).where(
        request.kind == "reschedule",
        request.session_id == reply.session_id,
        or_(request.inbound_id == reply.id, request.status == OPEN),
    )
    return and_(reply.intent == "reschedule", covering.exists())


def request_of_reply(db: DB, inbound: models.InboundMessage) -> models.PatientRequest | None:
    """The open request an "R" reply became (None for any other reply)."""
    if inbound.intent != "reschedule" or inbound.session_id is None:
        return None
    request = models.PatientRequest
    return db.scalars(
        select(request)
        .where(
            request.kind == "reschedule",
            request.session_id == inbound.session_id,
            request.status == OPEN,
        )
        .order_by(request.id)
        .limit(1)
    ).first()


def _replies_behind(db: DB, row: models.PatientRequest) -> list[models.InboundMessage]:
    """The unhandled SMS replies a request stands for: its own, and every later "R" for the
    same session that joined it."""
    reply = models.InboundMessage
    behind = reply.id == row.inbound_id
    if row.kind == "reschedule" and row.session_id is not None:
        behind = or_(behind, and_(reply.intent == "reschedule", reply.session_id == row.session_id))
    return list(db.scalars(select(reply).where(behind, reply.handled_at.is_(None))))


def _view(row: models.PatientRequest) -> PatientRequest:
    patient, session = row.patient, row.session
    return PatientRequest(
        id=row.id,
        patient_id=row.patient_id,
        patient_name=f"{patient.first_name} {patient.last_name}".strip(),
        session_id=row.session_id,
        kind=cast(RequestKind, row.kind),
        preferred_days=_days(row.preferred_days),
        note=row.note,
        received_at=row.received_at,
        patient_external_id=patient.external_id,
        session_external_id=session.external_id if session else None,
        session_at=session.starts_at if session else None,
        source=row.source,
    )


def _days(text: str) -> tuple[date, ...]:
    return tuple(date.fromisoformat(part) for part in text.split(",") if part)
