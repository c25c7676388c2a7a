"""Every state change of a message goes through here, so the log always says why."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session as DB

from reminders.models import Message, MessageEvent


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
    if rows:
        db.execute(insert(MessageEvent), rows)
