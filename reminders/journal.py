"""Every state change of a message goes through here, so the log always says why."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session as DB

from reminders.models import (
    Message,
    MessageEvent,
    PatientRequest,
    PatientRequestEvent,
    StaffAction,
)


def record(
    db: DB, message: Message, status: str, reason: str, now: datetime, actor: str = "system"
) -> None:
    message.status = status
    message.reason = reason
    db.add(MessageEvent(message=message, at=now, status=status, reason=reason, actor=actor))


def record_many(db: DB, ids: Iterable[int], status: str, reason: str, now: datetime) -> None:
    """Events for rows changed by one conditional UPDATE."""
    rows = [
        {"message_id": i, "at": now, "status": status, "reason": reason, "actor": "system"}
        for i in ids
    ]
    add_events(db, rows)


def add_events(db: DB, rows: list[dict[str, object]]) -> None:
    """Insert event rows as they are: a Core executemany, none of the ORM's per-row work
    (the send path writes two events per message)."""
    if rows:
        table = MessageEvent.__table__
        assert isinstance(table, Table)
        db.execute(insert(table), rows)


def record_request(
    db: DB, request: PatientRequest, status: str, reason: str, now: datetime, actor: str
) -> None:
    """A patient request's state change, like a message's: who, when and why."""
    request.status = status
    db.add(PatientRequestEvent(request=request, at=now, status=status, reason=reason, actor=actor))


def record_action(
    db: DB,
    *,
    item: str,
    situation: str,
    action: str,
    by: str,
    now: datetime,
    note: str = "",
    patient_id: int | None = None,
) -> StaffAction:
    """What staff did about a call-list item or a series, with who and when."""
    row = StaffAction(
        at=now,
        actor=by,
        item=item,
        situation=situation,
        action=action,
        note=note,
        patient_id=patient_id,
    )
    db.add(row)
    return row


def note_on_message(db: DB, message: Message, why: str, now: datetime, actor: str) -> None:
    """An event on a message's trail that changes nothing (staff handled it)."""
    db.add(MessageEvent(message=message, at=now, status=message.status, reason=why, actor=actor))
