"""What staff read: the message log, and a preview of what is coming."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from reminders import store
from reminders.config import Settings
from reminders.models import Message, MessageStatus, Series, Session
from reminders.planner import UPCOMING

OPEN = (MessageStatus.PLANNED, MessageStatus.QUEUED)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def as_record(message: Message) -> dict[str, Any]:
    """One log entry with the clinic's external ids, as `messages --json` prints it."""
    session = message.session
    patient = session.series.patient
    return {
        "id": message.id,
        "session_id": session.external_id,
        "patient_id": patient.external_id,
        "series_id": session.series.external_id,
        "kind": message.kind,
        "rule": message.rule,
        "channel": message.channel,
        "status": message.status,
        "reason": message.reason,
        "due_at": _iso(message.due_at),
        "sent_at": _iso(message.sent_at),
        "session_starts_at": _iso(session.starts_at),
        "recipient": message.recipient or patient.address_for(message.channel),
        "subject": message.subject,
        "body": message.body,
        "attempts": message.attempts,
        "provider_id": message.provider_id,
        "triggered_by": message.triggered_by,
        "resend_of": message.resend_of,
    }


def _query() -> Any:
    return select(Message).options(
        joinedload(Message.session).joinedload(Session.series).joinedload(Series.patient)
    )


def messages(
    settings: Settings,
    *,
    status: str | None = None,
    session_id: str | None = None,
    channel: str | None = None,
) -> list[dict[str, Any]]:
    query = _query().order_by(Message.id)
    if status:
        query = query.where(Message.status == status)
    if channel:
        query = query.where(Message.channel == channel)
    if session_id:
        query = query.join(Message.session).where(Session.external_id == session_id)
    with store.transaction(settings.database_url) as db:
        return [as_record(m) for m in db.scalars(query).unique()]


def preview(settings: Settings, now: datetime, days: float) -> list[dict[str, Any]]:
    """Messages that would go out before now + days, in due order; nothing is sent or changed."""
    query = (
        _query()
        .join(Message.session)
        .where(
            Message.status.in_(OPEN),
            Message.due_at <= now + timedelta(days=days),
            Session.status.in_(UPCOMING),
        )
        .order_by(Message.due_at, Message.id)
    )
    with store.transaction(settings.database_url) as db:
        return [as_record(m) for m in db.scalars(query).unique()]
