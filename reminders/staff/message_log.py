"""What staff read: the message log, and a preview of what is coming."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import contains_eager, selectinload

from reminders import store
from reminders.config import Settings
from reminders.models import WAITING, Message, Patient, Series, Session
from reminders.sending.compose import recheck, render_message
from reminders.wording.sms_text import segments
from reminders.wording.templating import TemplateProblem


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
    # The page's ids first, then their rows: skipping `offset` rows on the ids alone reads
    # the primary key's index, not every skipped message's session, series and patient.
    page = select(Message.id)
    if session_id is not None or patient_id is not None:
        page = page.join(Message.session).join(Session.series).join(Series.patient)
    page = page.where(*conditions).order_by(Message.id).offset(offset).limit(limit)
    query = with_patient(select(Message)).where(Message.id.in_(page.scalar_subquery()))
    with store.transaction(settings.database_url) as db:
        return [as_record(m) for m in db.scalars(query.order_by(Message.id))]


def preview(settings: Settings, now: datetime, days: float) -> list[dict[str, Any]]:
    """Every message waiting to go out before now + days (session reminders and follow-ups),
    in due order, with the text it would carry; nothing is sent or changed.

    Each is rendered and re-checked as the sender would at its due time (or now, if that
    has passed): `subject` and `body` are that text, `would_send` says whether it would
    go, and `reason` why not. A template that does not render gives `body` None and the
    problem in `reason`. Links in it are real (signed), like the ones a patient gets.
    Rendering and re-checking only read the row, so the transaction changes nothing.
    """
    query = (
        with_patient(select(Message))
        .where(Message.status.in_(WAITING), Message.due_at <= now + timedelta(days=days))
        .options(selectinload(Message.session, Session.series, Series.sessions))
        .order_by(Message.due_at, Message.id)
    )
    with store.transaction(settings.database_url) as db:
        return [_previewed(settings, message, now) for message in db.scalars(query)]


def _previewed(settings: Settings, message: Message, now: datetime) -> dict[str, Any]:
    at = max(message.due_at, now)
    record = as_record(message)
    verdict = recheck(settings, message, at)
    record |= {"would_send": verdict is None, "preview_at": at.isoformat()}
    if verdict is not None:
        record["reason"] = f"would not go out: {verdict[1]}"
    try:
        rendered = render_message(settings, message, at)
    except TemplateProblem as exc:
        record |= {"subject": None, "body": None, "would_send": False, "reason": str(exc)}
        return record
    record |= {"subject": rendered.subject, "body": rendered.text}
    if message.channel == "sms":
        record["segments"] = segments(rendered.text)
    return record
