"""What staff read: the message log, and a preview of what is coming."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import contains_eager

from reminders import store
from reminders.config import Settings
from reminders.models import UPCOMING, WAITING, Message, Patient, Series, Session


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


def with_patient(query: Select[tuple[Message]]) -> Select[tuple[Message]]:
    """Join each message's session, series and patient: filtered on, and all in the record."""
    return (
        query.join(Message.session)
        .join(Session.series)
        .join(Series.patient)
        .options(contains_eager(Message.session, Session.series, Series.patient))
    )


def messages(
    settings: Settings,
    *,
    status: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    session_id: str | None = None,
    patient_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The log in id order; `since` (included) and `until` (excluded) bound the due time."""
    equal = [
        (Message.status, status),
        (Message.channel, channel),
        (Message.kind, kind),
        (Session.external_id, session_id),
        (Patient.external_id, patient_id),
    ]
    conditions = [column == value for column, value in equal if value is not None]
    if since is not None:
        conditions.append(Message.due_at >= since)
    if until is not None:
        conditions.append(Message.due_at < until)
    query = with_patient(select(Message)).where(*conditions).order_by(Message.id)
    query = query.offset(offset).limit(limit)
    with store.transaction(settings.database_url) as db:
        return [as_record(m) for m in db.scalars(query)]


def preview(settings: Settings, now: datetime, days: float) -> list[dict[str, Any]]:
    """Messages that would go out before now + days, in due order; nothing is sent or changed."""
    query = (
        with_patient(select(Message))
        .where(
            Message.status.in_(WAITING),
            Message.due_at <= now + timedelta(days=days),
            Session.status.in_(UPCOMING),
        )
        .order_by(Message.due_at, Message.id)
    )
    with store.transaction(settings.database_url) as db:
        return [as_record(m) for m in db.scalars(query)]
