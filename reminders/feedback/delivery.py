"""Twilio's delivery reports: status only moves forward, and a number that cannot take SMS
gets the session reminder by email instead, once.

Status moves queued < sending < sent < delivered; sent < undelivered/failed. The fallback
is planned by `sending.fallback`, which Twilio refusing the send outright shares. Nothing
logged carries a phone number, a name or a message body.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.channels.twilio import STATUS_RANK
from reminders.config import Settings
from reminders.journal import record
from reminders.models import Message, MessageStatus
from reminders.sending.dispatch import send_claimed
from reminders.sending.fallback import plan_fallback

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
        if outcome == "moved":
            fallback = plan_fallback(db, message, error_code, now)
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
