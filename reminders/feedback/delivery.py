"""Twilio's delivery reports: status only moves forward, and a number that cannot take SMS
gets the session reminder by email instead, once.

Status moves queued < sending < sent < delivered; sent < undelivered/failed. Nothing logged
carries a phone number, a name or a message body.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.channels.twilio import CANNOT_RECEIVE_SMS, STATUS_RANK
from reminders.config import Settings
from reminders.journal import record
from reminders.kinds import kind_of
from reminders.models import UPCOMING, Message, MessageStatus
from reminders.sending.dispatch import send_claimed

_OURS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
}
# Our states a callback may move on from; delivered, undelivered and failed never go back.
_MOVABLE = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
    MessageStatus.SENT,
)
FALLBACK_BY = "sms-fallback"


def apply_status(
    settings: Settings, sid: str, status: str, error_code: str, now: datetime
) -> str | None:
    """Apply one status callback; returns what happened, for the log (None: unknown SID).

    A permanent failure of a before-session SMS reminder sends it by email at once, once.
    """
    fallback: int | None = None
    with store.transaction(settings.database_url) as db:
        message = db.scalars(
            select(Message).where(Message.provider_id == sid).with_for_update()
        ).first()
        if message is None:
            return None
        outcome = _advance(db, message, status.lower(), error_code, now)
        if outcome == "moved" and _wants_fallback(message, error_code, now):
            fallback = _plan_fallback(db, message, now)
    if fallback is not None:
        send_claimed(settings, [fallback], now)
        return "moved, email fallback sent"
    return outcome


def _advance(db: DB, message: Message, status: str, error_code: str, now: datetime) -> str:
    rank = STATUS_RANK.get(status)
    if rank is None:
        return "ignored"
    if message.provider_status is not None and rank <= STATUS_RANK.get(message.provider_status, -1):
        return "stale"
    message.provider_status, message.provider_status_at = status, now
    ours = _OURS.get(status)
    if ours is None or ours == message.status or message.status not in _MOVABLE:
        return "noted"
    reason = f"Twilio: {status}" + (f" (error {error_code})" if error_code else "")
    record(db, message, ours, reason, now, actor="twilio")
    return "moved"


def _wants_fallback(message: Message, error_code: str, now: datetime) -> bool:
    if message.status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return False
    if error_code not in CANNOT_RECEIVE_SMS or message.channel != "sms":
        return False
    if not kind_of(message.kind).session_reminder or not message.before_session:
        return False
    session = message.session
    patient = session.series.patient
    upcoming = session.status in UPCOMING and session.starts_at > now
    return upcoming and bool(patient.email) and not patient.email_opt_out


def _plan_fallback(db: DB, sms: Message, now: datetime) -> int | None:
    """A queued email copy of the SMS reminder, unless one was made already."""
    earlier = db.scalar(
        select(Message.id).where(Message.resend_of == sms.id, Message.triggered_by == FALLBACK_BY)
    )
    if earlier is not None:
        return None
    email = Message.reminder_now(
        sms.session, channel="email", by=FALLBACK_BY, now=now, resend_of=sms.id
    )
    db.add(email)
    db.flush()
    why = f"SMS reminder {sms.id} could not be delivered ({sms.reason}): sent by email instead"
    record(db, email, MessageStatus.QUEUED, why, now)
    return email.id
